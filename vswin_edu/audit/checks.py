"""Compare what a block did (:mod:`vswin_edu.audit.capture`) with the oracles, and say what is wrong.

Three checks per block, in the order the block works:

1. **windows and shift** — the token of every window slot against
   :func:`vswin_edu.geometry.window_token_origins` for the oracle geometry (window clamped to the
   grid, shift dropped on clamped axes, zero padding at the end);
2. **mask** — against :func:`vswin_edu.reference.brute_force_mask` (from video coordinates), and its
   values against the 0 / -100 convention;
3. **relative position bias** — the table row each pair read against
   :func:`vswin_edu.reference.brute_force_relative_bias` (offsets read off the full window).

Each failed check names its first wrong entry in ``(t, h, w)`` video coordinates and tries the known
mistakes (flipped roll, no shift, shift in a regular block, padding after the roll, inverted mask,
regions counted before padding, the upstream ``[:N, :N]`` slice, wrong strides) to name the cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..geometry import WindowGeometry, window_geometry, window_token_origins
from ..reference import brute_force_allowed, brute_force_relative_bias, mask_mismatches, mask_value_problem
from ..relpos import relative_position_index, table_size
from ..shift import _axis_regions
from ..windows import window_coords, window_partition
from .capture import PADDING, UNKNOWN, Capture

__all__ = ["Finding", "check_capture"]

Size3 = tuple[int, int, int]


@dataclass(frozen=True)
class Finding:
    """One thing a block does differently from the oracle.

    ``check`` is ``"windows"``, ``"shift"``, ``"mask"``, ``"mask values"`` or ``"bias"``;
    ``severity`` ``"wrong"`` (the block computes something else) or ``"warning"`` (same result in
    fp32, but fragile, e.g. a -inf mask).  ``query``/``key`` are video coordinates ``(t, h, w)`` of
    the block's grid (``None`` where the finding is not about a pair), ``expected``/``got`` say what
    the entry should be and is.
    """

    check: str
    diagnosis: str
    severity: str = "wrong"
    window: int | None = None
    query: Size3 | None = None
    key: Size3 | None = None
    query_region: int | None = None
    key_region: int | None = None
    expected: str = ""
    got: str = ""

    def describe(self) -> str:
        where = ""
        if self.query is not None and self.key is not None:
            regions = (
                "" if self.query_region is None else f" (regions {self.query_region} -> {self.key_region})"
            )
            where = f" first wrong pair: query {self.query} -> key {self.key}{regions}"
        elif self.query is not None:
            where = f" first wrong slot: window {self.window} holds {self.got}, expected {self.expected}"
        details = f"; expected {self.expected}, got {self.got}" if self.key is not None else ""
        return f"{self.check}: {self.diagnosis}.{where}{details}"


def _tuple(t: torch.Tensor) -> Size3:
    return tuple(int(v) for v in t.tolist())  # type: ignore[return-value]


def _origins(padded: Size3, window: Size3, start: Size3) -> torch.Tensor:
    """Window slot origins ``(nW, N, 3)`` if the rolled grid starts at original ``start`` (any shift)."""
    rolled = window_coords(padded).view(*padded, 3)  # (Dp, Hp, Wp, 3): every position of the rolled grid
    return window_partition(((rolled + torch.tensor(start)) % torch.tensor(padded))[None], window)


def _as_observed(origins: torch.Tensor, grid: Size3) -> torch.Tensor:
    """Oracle origins as the capture writes them: positions in the zero padding become ``PADDING``."""
    padding = (origins >= torch.tensor(grid)).any(-1, keepdim=True)
    return torch.where(padding, PADDING, origins)


def _pad_after_roll(geo: WindowGeometry) -> torch.Tensor:
    """Origins if the grid is rolled *before* it is padded: the padding stays at the end."""
    rolled = window_coords(geo.padded).view(*geo.padded, 3)  # (Dp, Hp, Wp, 3)
    grid, shift = torch.tensor(geo.dhw), torch.tensor(geo.shift)
    origin = torch.where(rolled < grid, (rolled + shift) % grid, grid)  # grid = "in the padding"
    return _as_observed(window_partition(origin[None], geo.window), geo.dhw)


def _window_extent(origins: torch.Tensor) -> Size3 | None:
    """The window shape a block used, read off a window with no padding: distinct t, h, w counts."""
    real = (origins >= 0).all(-1).all(-1)  # (nW,)
    if not real.any():
        return None
    w = origins[int(real.nonzero()[0, 0])]  # (N, 3)
    return tuple(len(w[:, a].unique()) for a in range(3))  # type: ignore[return-value]


def check_windows(cap: Capture, geo: WindowGeometry) -> list[Finding]:
    """Window shape, padding and roll: the token in every window slot (check 1)."""
    observed = cap.origins  # (nW', N', 3)
    unknown = int((observed[..., 0] == UNKNOWN).sum())
    if unknown:
        return [Finding("windows", f"{unknown} window slots hold no token of the block's input: the block "
                        "changes the tokens between its norm and the QKV projection, so the audit cannot "
                        "follow them (see the protocol of vswin_edu.audit.layouts)")]  # fmt: skip
    nW, N = observed.shape[:2]
    if (nW, N) != (geo.num_windows, geo.tokens_per_window):
        seen = _window_extent(observed)
        cause = "the window was not clamped to the grid" if geo.clamped else "another window size"
        return [Finding("windows", cause, expected=f"{geo.num_windows} windows of {geo.window}",
                        got=f"{nW} windows of {N} tokens" + (f" {seen}" if seen else ""))]  # fmt: skip
    expected = _as_observed(window_token_origins(geo.padded, geo.window, geo.shift), geo.dhw)
    wrong = (observed != expected).any(-1)  # (nW, N)
    if not wrong.any():
        return []
    w, n = (int(v) for v in wrong.nonzero()[0])
    got, want = _tuple(observed[w, n]), _tuple(expected[w, n])
    show = lambda p: "padding" if p[0] == PADDING else str(p)  # noqa: E731
    return [Finding("shift", _roll_diagnosis(observed, geo), window=w, query=want, expected=show(want),
                    got=show(got))]  # fmt: skip


def _roll_diagnosis(observed: torch.Tensor, geo: WindowGeometry) -> str:
    """Name the mistake whose windows equal the observed ones, if a known one does."""
    s, padded = geo.shift, geo.padded
    start = _tuple(observed[0, 0])
    if start[0] >= 0 and any(start) and not any(s):
        return (
            f"the grid is rolled by {tuple(-a for a in start)} although this block uses regular windows "
            "(W-MSA: an even block, or every shifted axis fits in one window)"
        )
    flipped = tuple((-a) % n for a, n in zip(s, padded, strict=True))
    candidates = [
        ("no cyclic shift: the windows are the regular ones, expected torch.roll by -shift", (0, 0, 0)),
        (f"the cyclic shift goes the wrong way: torch.roll by +{s} instead of -{s}", flipped),
    ]
    for text, begin in candidates:
        if any(s) and torch.equal(observed, _as_observed(_origins(padded, geo.window, begin), geo.dhw)):
            return text
    if any(s) and torch.equal(observed, _pad_after_roll(geo)):
        return "the grid is padded after the cyclic shift: pad first, then roll (the padding wraps round too)"
    return f"windows hold other tokens than the oracle's (window 0 starts at {start}, expected {s})"


def _unpadded_regions(geo: WindowGeometry) -> torch.Tensor:
    """Region ids ``(nW, N)`` if the three slices were laid on the *unpadded* grid (-1 beyond it)."""
    labels = []
    for n, p, w, s in zip(geo.dhw, geo.padded, geo.window, geo.shift, strict=True):
        axis = torch.full((p,), -1, dtype=torch.long)
        axis[:n] = _axis_regions(n, w, s)
        labels.append(axis)
    rd, rh, rw = labels
    ids = torch.where(
        (rd[:, None, None] >= 0) & (rh[None, :, None] >= 0) & (rw[None, None, :] >= 0),
        9 * rd[:, None, None] + 3 * rh[None, :, None] + rw[None, None, :],
        -1,
    )  # (Dp, Hp, Wp) on the rolled grid
    return window_partition(ids[None, ..., None], geo.window)[..., 0]


def _mask_diagnosis(got: torch.Tensor, expected: torch.Tensor, geo: WindowGeometry) -> str:
    if torch.equal(got, ~expected):
        return "the mask is inverted: 0 where tokens of different regions meet, -100 where they may attend"
    if got.all():
        return "no mask: a shifted block must mask pairs from different regions of a wrapped window"
    if not any(geo.shift):
        return "a mask in a block without shift (regular windows need none)"
    ids = _unpadded_regions(geo)  # (nW, N)
    known = (ids[:, :, None] >= 0) & (ids[:, None, :] >= 0)
    hypothesis = ids[:, :, None] == ids[:, None, :]
    if geo.padded != geo.dhw and torch.equal(got & known, hypothesis & known):
        return (
            f"the regions are counted on the unpadded grid {geo.dhw} (mask computed before padding): "
            f"the slices must be laid on the padded grid {geo.padded}"
        )
    return "the mask differs from the oracle's"


def check_mask(cap: Capture, geo: WindowGeometry) -> list[Finding]:
    """The additive mask against the brute-force oracle (check 2)."""
    findings = []
    problem = mask_value_problem(cap.mask)
    if problem:
        severity = "wrong" if torch.isnan(cap.mask).any() or torch.isposinf(cap.mask).any() else "warning"
        findings.append(Finding("mask values", problem.split("\n")[0].rstrip("."), severity=severity))
        if severity == "wrong":
            return findings
    if not cap.mask_heads_agree:
        findings.append(Finding("mask", "the heads see different masks (one mask is shared by all heads)"))
    first = mask_mismatches(cap.mask, geo.padded, geo.window, geo.shift, limit=1)
    if first:
        m = first[0]
        got, expected = cap.mask > -1.0, brute_force_allowed(geo.padded, geo.window, geo.shift)
        count = int((got != expected).sum())
        word = lambda allowed: "may attend (0)" if allowed else "masked (-100)"  # noqa: E731
        findings.append(
            Finding("mask", f"{_mask_diagnosis(got, expected, geo)} ({count} wrong entries)", window=m.window,
                    query=m.query_thw, key=m.key_thw, query_region=m.query_region, key_region=m.key_region,
                    expected=word(m.expected_allowed), got=word(m.got_allowed))
        )  # fmt: skip
    return findings


def _offset(row: float, table_window: Size3) -> str:
    """The relative offset ``query - key`` a table row belongs to, in words."""
    P, Mh, Mw = table_window
    if math.isnan(row) or row != int(row) or not 0 <= row < table_size(table_window):
        return f"{row:g}, not a table row"
    r = int(row)
    dt, rest = divmod(r, (2 * Mh - 1) * (2 * Mw - 1))
    dh, dw = divmod(rest, 2 * Mw - 1)
    return f"row {r} = offset {(dt - P + 1, dh - Mh + 1, dw - Mw + 1)}"


def _strides(index: torch.Tensor, window: Size3, table_window: Size3) -> tuple[int, ...] | None:
    """Integer strides ``(a, b, c)`` with ``index = a*rel_t + b*rel_h + c*rel_w`` exactly, if any fit."""
    coords = window_coords(window)
    rel = (coords[:, None, :] - coords[None, :, :] + torch.tensor([t - 1 for t in table_window])).flatten(
        0, 1
    )
    target = index.flatten()
    keep = ~torch.isnan(target)
    solution = torch.linalg.lstsq(rel[keep].double(), target[keep].double()[:, None]).solution[:, 0]
    strides = solution.round()
    if not torch.equal(rel[keep].double() @ strides, target[keep].double()):
        return None
    return tuple(int(v) for v in strides)


def _bias_diagnosis(index: torch.Tensor, expected: torch.Tensor, geo: WindowGeometry, table: Size3) -> str:
    known = ~torch.isnan(index)
    N = geo.tokens_per_window
    same = lambda other: torch.equal(index[known], other.to(index.dtype)[known])  # noqa: E731
    if geo.window != table and same(relative_position_index(table)[:N, :N]):
        return (
            "the bias of the shrunken window is read with relative_position_index[:N, :N] of the full "
            f"window {table} (the upstream bug of torchvision's _get_relative_position_bias and the official "
            "WindowAttention3D): right only when just the first axis shrinks"
        )
    if same(expected.T):
        return "the offsets are key - query instead of query - key (the index is transposed)"
    strides = _strides(index, geo.window, table)
    P, Mh, Mw = table
    want = ((2 * Mh - 1) * (2 * Mw - 1), 2 * Mw - 1, 1)
    if strides is not None and strides != want:
        return f"the index uses strides {strides} for (rel_t, rel_h, rel_w), expected {want}"
    return "the pairs read other table rows than their offsets'"


def check_bias(cap: Capture, geo: WindowGeometry) -> list[Finding]:
    """The table row of every (query, key) pair against the brute-force bias oracle (check 3)."""
    table_window, rows = cap.block.window_size, cap.block.table.shape[0]
    if rows != table_size(table_window):
        return [Finding("bias", f"the table has {rows} rows; a {table_window} window needs "
                        f"{table_size(table_window)} = (2P-1)(2M-1)(2M-1)")]  # fmt: skip
    findings = []
    if not cap.index_heads_agree:
        findings.append(Finding("bias", "the heads read different table rows (each head should read its own "
                                "column of the same rows)"))  # fmt: skip
    if not cap.index_windows_agree:
        findings.append(
            Finding("bias", "windows read different table rows (the bias is shared by all windows)")
        )
    probe = torch.arange(rows, dtype=torch.float64)[:, None]  # row r holds r: the oracle gives rows
    expected = brute_force_relative_bias(probe, geo.window, table_window)[0]  # (N, N)
    index = cap.index.double()
    wrong = ~torch.isnan(index) & (index != expected)
    if wrong.any():
        i, j = (int(v) for v in wrong.nonzero()[0])
        first = int((cap.origins >= 0).all(-1).all(-1).int().argmax())  # a window with no padding
        origins = window_token_origins(geo.padded, geo.window, geo.shift)[first]  # (N, 3)
        findings.append(
            Finding("bias", f"{_bias_diagnosis(index, expected, geo, table_window)} "
                    f"({int(wrong.sum())} of {index.numel()} pairs)", window=first,
                    query=_tuple(origins[i]), key=_tuple(origins[j]),
                    expected=_offset(float(expected[i, j]), table_window),
                    got=_offset(float(index[i, j]), table_window))
        )  # fmt: skip
    return findings


def paper_shift(block_index: int, window_size: Size3) -> Size3:
    """The shift the paper gives a block: 0 for even blocks (W-MSA), ``(P/2, M/2, M/2)`` for odd (SW-MSA)."""
    return (0, 0, 0) if block_index % 2 == 0 else tuple(w // 2 for w in window_size)  # type: ignore[return-value]


def check_capture(cap: Capture) -> tuple[WindowGeometry, list[Finding]]:
    """The oracle geometry of the block's grid, and every finding of checks 1-3.

    Blocks alternate W-MSA and SW-MSA (paper Sec. 3.2), so an even block is held to regular windows
    whatever shift it was configured with; an odd one to its configured shift (an ablation may use
    another than the paper's, which is noted as a warning).
    """
    b = cap.block
    paper = paper_shift(b.index, b.window_size)
    geo = window_geometry(cap.grid, b.window_size, b.shift_size if b.index % 2 else paper)
    findings = []
    if b.index % 2 and b.shift_size != paper:
        text = (
            f"configured with shift {b.shift_size}, not the paper's (P/2, M/2, M/2) = {paper} (an ablation?)"
        )
        findings.append(Finding("shift", text, severity="warning"))
    findings += check_windows(cap, geo)
    if any(f.check == "windows" for f in findings):
        return geo, findings  # other windows: the mask and bias cannot be compared entry by entry
    if not any(f.severity == "wrong" for f in findings):  # a wrong roll makes every mask entry moot
        findings += check_mask(cap, geo)
    return geo, findings + check_bias(cap, geo)
