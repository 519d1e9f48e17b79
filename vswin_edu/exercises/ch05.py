"""Chapter 5 exercises: the shifted-window attention mask (paper Sec. 3.2, "efficient batch computation").

5.1  build the additive ``(nW, N, N)`` mask (0 / -100) for a grid, window and shift
5.2  add a ``(nW, N, N)`` mask to logits ``(B*nW, nH, N, N)`` (broadcast over clips and heads)
5.3  count the (query, key) pairs the mask removes — the mask is not redundant
"""

from __future__ import annotations

import torch

from ..reference import brute_force_allowed, mask_mismatches, mask_value_problem
from ..shift import MASKED_LOGIT
from ..windows import window_partition
from ._core import Mismatch, exercise

Size3 = tuple[int, int, int]

_MASK_CASES: list[tuple[Size3, Size3, Size3]] = [
    ((4, 8, 8), (2, 4, 4), (1, 2, 2)),
    ((2, 4, 8), (2, 4, 4), (0, 0, 2)),  # shift on one axis only
    ((4, 6, 6), (2, 3, 3), (1, 1, 1)),
]


def allowed_with_roll(dhw: Size3, window: Size3, shift: Size3, sign: int) -> torch.Tensor:
    """``(nW, N, N)`` "may attend" built the brute-force way with a chosen roll.

    Each video position is labelled by its displaced window ``floor((p - s) / w)`` per axis; the
    labels are rolled by ``sign * shift`` and partitioned.  ``sign = -1`` is the cyclic shift (the
    correct mask), ``+1`` the flipped roll sign, ``0`` no roll at all.
    """
    labels = []
    for length, w, s in zip(dhw, window, shift, strict=True):
        labels.append(torch.div(torch.arange(length) - s, w, rounding_mode="floor"))  # (L,)
    D, H, W = dhw
    grid = torch.stack(torch.meshgrid(*labels, indexing="ij"), dim=-1)  # (D, H, W, 3)
    grid = torch.roll(grid, tuple(sign * s for s in shift), dims=(0, 1, 2))  # (D, H, W, 3)
    ids = window_partition(grid[None], window)  # (nW, N, 3)
    return (ids[:, :, None, :] == ids[:, None, :, :]).all(-1)  # (nW, N, N)


def _check_mask_values(got: torch.Tensor, case: str) -> None:
    """Mistakes in the *values* (dtype, NaN, +-inf, other constants) before comparing the pattern.

    The words come from :func:`vswin_edu.reference.mask_value_problem`, which the mask debugger uses
    too, so the checker and the debugger flag a mask the same way.
    """
    if got.dtype == torch.bool:
        raise Mismatch(
            f"for {case} you returned a boolean mask; the model adds the mask to the logits, so make it "
            f"additive: 0.0 where tokens may attend and {MASKED_LOGIT} where not "
            "(vswin_edu.shift.additive_mask)."
        )
    problem = mask_value_problem(got)
    if problem is not None:
        raise Mismatch(f"for {case} {problem}")


@exercise(
    "5.1",
    "the shifted-window attention mask",
    hints=[
        "Label every token of the rolled grid with its region (vswin_edu.shift.region_ids or three "
        "slices per axis: [0, L-w), [L-w, L-s), [L-s, L)); partition the labels into windows.",
        "allowed = ids[:, :, None] == ids[:, None, :] gives (nW, N, N) booleans; make them additive "
        "with torch.where(allowed, 0.0, -100.0).",
    ],
    solution="def my_mask(dhw, window_size, shift_size):\n"
    "    ids = region_ids(dhw, window_size, shift_size)                    # (D, H, W)\n"
    "    ids = window_partition(ids[None, ..., None], window_size)[..., 0]  # (nW, N)\n"
    "    allowed = ids[:, :, None] == ids[:, None, :]                      # (nW, N, N)\n"
    "    return torch.where(allowed, 0.0, -100.0)",
)
def check_mask(fn) -> str:
    """``fn(dhw, window_size, shift_size)`` must return the additive ``(nW, N, N)`` mask."""
    for dhw, window, shift in _MASK_CASES:
        case = f"grid {dhw}, window {window}, shift {shift}"
        got = fn(dhw, window, shift)
        if not isinstance(got, torch.Tensor):
            raise Mismatch(f"my_mask must return a torch.Tensor, got {type(got).__name__}.")
        want = brute_force_allowed(dhw, window, shift)  # (nW, N, N)
        if tuple(got.shape) != tuple(want.shape):
            lines = [f"for {case} expected shape (nW, N, N) = {tuple(want.shape)}, got {tuple(got.shape)}."]
            if tuple(got.shape) == dhw:
                lines.append("this looks like region ids: partition them into windows and compare pairs.")
            raise Mismatch("\n".join(lines))
        _check_mask_values(got, case)
        allowed = got > MASKED_LOGIT / 2
        if torch.equal(allowed, want):
            continue
        lines = [f"tested {case}."]
        wrong = mask_mismatches(got, dhw, window, shift)
        lines.append(f"{len(wrong)} of {want.numel()} entries are wrong; the first: {wrong[0].describe()}.")
        if torch.equal(allowed, ~want):
            lines.append(
                "likely cause: inverted mask — 0.0 must mark the pairs that MAY attend (same region)."
            )
        elif allowed.all():
            lines.append(
                "likely cause: nothing is masked — the pieces wrapped round by the cyclic shift were not "
                "given their own regions, so far-apart tokens attend to each other."
            )
        elif torch.equal(allowed, allowed_with_roll(dhw, window, shift, +1)):
            lines.append(
                "likely cause: flipped roll sign — your labels were rolled by +shift; the cyclic shift "
                "rolls by -shift, so the wrapped pieces sit at the END of each axis."
            )
        elif torch.equal(allowed, allowed_with_roll(dhw, window, shift, 0)):
            lines.append(
                "likely cause: regions of the un-rolled grid — label the grid AFTER the cyclic shift "
                "(slices [0, L-w), [L-w, L-s), [L-s, L)), not before."
            )
        raise Mismatch("\n".join(lines))
    return f"equal to the brute-force mask on {len(_MASK_CASES)} grids (one with shift on a single axis)."


# ---------------------------------------------------------------------------------------------- 5.2


def _logits_and_masks(B: int, nW: int, nH: int, N: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits ``(B*nW, nH, N, N)`` and a mask ``(nW, N, N)`` with a different pattern per window."""
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(B * nW, nH, N, N, generator=gen)
    pattern = torch.rand(nW, N, N, generator=gen) < 0.5
    return logits, torch.where(pattern, 0.0, MASKED_LOGIT)


@exercise(
    "5.2",
    "broadcast the mask over clips and heads",
    hints=[
        "The windows of a batch are stored clip-major: row b*nW + w of (B*nW, nH, N, N) is window w "
        "of clip b. The mask (nW, N, N) is the same for every clip and every head.",
        "logits.view(B, nW, nH, N, N) + mask[None, :, None], then view back to (B*nW, nH, N, N).",
    ],
    solution="def add_mask(logits, mask):\n"
    "    Bw, nH, N, _ = logits.shape\n"
    "    nW = mask.shape[0]\n"
    "    out = logits.view(Bw // nW, nW, nH, N, N) + mask[None, :, None]  # (B, nW, nH, N, N)\n"
    "    return out.view(Bw, nH, N, N)",
)
def check_add_mask(fn) -> str:
    """``fn(logits (B*nW, nH, N, N), mask (nW, N, N)) -> (B*nW, nH, N, N)``."""
    B, nW, nH, N = 2, 4, 3, 5
    logits, mask = _logits_and_masks(B, nW, nH, N)
    want = (logits.view(B, nW, nH, N, N) + mask[None, :, None]).view(B * nW, nH, N, N)
    try:
        got = fn(logits.clone(), mask.clone())
    except RuntimeError as err:
        raise Mismatch(
            f"with B={B}, nW={nW}, nH={nH}, N={N} your code raised: {err}\n"
            f"likely cause: a mask (nW, N, N) does not broadcast onto (B*nW, nH, N, N) as it is — view the "
            f"logits as (B, nW, nH, N, N) and add mask[None, :, None]."
        ) from None
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise Mismatch(f"expected logits of shape (B*nW, nH, N, N) = {tuple(want.shape)}, got {shape}.")
    if torch.allclose(got, want):
        return f"B={B} clips x nW={nW} windows x nH={nH} heads all got the mask of their own window."
    added = got - logits  # (B*nW, nH, N, N): what the learner added
    bw, h = (int(v) for v in torch.nonzero(~torch.isclose(got, want))[0, :2])
    used = [w for w in range(nW) if torch.allclose(added[bw, h], mask[w])]
    lines = [
        f"tested B={B}, nW={nW}, nH={nH}, N={N} with a different mask pattern in every window.",
        f"row {bw} (clip {bw // nW}, window {bw % nW}), head {h} should get mask[{bw % nW}], "
        + (f"got mask[{used[0]}]." if used else "got something that is no window's mask."),
    ]
    if used:
        lines.append(
            "likely cause: wrong window order — B*nW is clip-major (all windows of clip 0, then clip 1), "
            "so the mask repeats as mask[None, :] over clips, not repeat_interleave."
        )
    elif torch.allclose(added[bw, h], mask[bw % nW].T):
        lines.append("likely cause: transposed mask — rows are queries, columns keys.")
    raise Mismatch("\n".join(lines))


# ---------------------------------------------------------------------------------------------- 5.3


@exercise(
    "5.3",
    "how many pairs does the mask remove?",
    hints=[
        "Build the mask for the grid (vswin_edu.shift.shifted_window_mask) and count its masked entries.",
        "Every (query, key) entry counts, in every window: int((mask < 0).sum()).",
    ],
    solution="def masked_pairs(dhw, window_size, shift_size):\n"
    "    return int((shifted_window_mask(dhw, window_size, shift_size) < 0).sum())",
)
def check_masked_pairs(fn) -> str:
    """``fn(dhw, window_size, shift_size) -> int``: masked (query, key) entries over all windows."""
    for dhw, window, shift in _MASK_CASES:
        allowed = brute_force_allowed(dhw, window, shift)
        want = int((~allowed).sum())
        got = fn(dhw, window, shift)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if got == want:
            continue
        lines = [f"for grid {dhw}, window {window}, shift {shift}: expected {want} masked pairs, got {got}."]
        if got == int(allowed.sum()):
            lines.append(
                "likely cause: you counted the pairs that MAY attend (the zeros), not the masked ones."
            )
        elif got * 2 == want:
            lines.append("likely cause: (i, j) and (j, i) are two entries of the mask — count both.")
        raise Mismatch("\n".join(lines))
    return "the mask removes pairs that the cyclic shift brought together — it is not redundant."
