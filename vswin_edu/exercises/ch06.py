"""Chapter 6 exercises: the 3D relative position bias (paper Sec. 3.2, Eq. 1).

6.1  the relative position index of a window (offsets -> mixed-radix index)
6.2  the index of a shrunken (effective) window into the full window's table
6.3  gather the bias ``(nH, N, N)`` from the table ``((2P-1)(2M-1)(2M-1), nH)``
"""

from __future__ import annotations

import torch

from ..reference import brute_force_relative_bias
from ..relpos import relative_position_index, table_size, window_coords
from ._core import Mismatch, exercise

Size3 = tuple[int, int, int]


def index_with_strides(window: Size3, strides: tuple[int, int, int]) -> torch.Tensor:
    """The index with chosen multipliers (the right ones are ``((2M-1)^2, 2M-1, 1)``)."""
    coords = window_coords(window)  # (N, 3)
    rel = coords[:, None, :] - coords[None, :, :] + torch.tensor([w - 1 for w in window])  # (N, N, 3)
    return (rel * torch.tensor(strides)).sum(-1)  # (N, N)


def first_collision(index: torch.Tensor, window: Size3) -> str:
    """Two different offsets that share one index, in words ('' if offsets -> index is one-to-one)."""
    coords = window_coords(window)  # (N, 3)
    rel = (coords[:, None, :] - coords[None, :, :]).reshape(-1, 3)  # (N*N, 3) query - key
    seen: dict[int, tuple[int, ...]] = {}
    for value, offset in zip(index.reshape(-1).tolist(), rel.tolist(), strict=True):
        offset = tuple(offset)
        if seen.setdefault(value, offset) != offset:
            return f"offsets {seen[value]} and {offset} both map to index {value}"
    return ""


def _pair_text(index_want: torch.Tensor, got: torch.Tensor, window: Size3) -> str:
    """The first wrong (query, key) pair in window coordinates, expected vs got."""
    i, j = (int(v) for v in torch.nonzero(got != index_want)[0])
    coords = window_coords(window).tolist()
    offset = tuple(a - b for a, b in zip(coords[i], coords[j], strict=True))
    return (
        f"query {tuple(coords[i])} -> key {tuple(coords[j])} (offset {offset}): expected index "
        f"{int(index_want[i, j])}, got {int(got[i, j])}"
    )


def _check_index_tensor(got: object, N: int, case: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"the index must be a torch.Tensor, got {type(got).__name__}.")
    if tuple(got.shape) != (N, N):
        raise Mismatch(f"for {case} expected an (N, N) = ({N}, {N}) index, got shape {tuple(got.shape)}.")
    if got.is_floating_point() or got.dtype == torch.bool:
        raise Mismatch(
            f"the index must be an integer tensor (torch.long) to gather table rows, got {got.dtype}."
        )
    return got


_INDEX_CASES: list[Size3] = [(2, 2, 2), (4, 3, 3), (8, 7, 7)]


@exercise(
    "6.1",
    "the 3D relative position index",
    hints=[
        "Take the (d, h, w) coordinates of the N tokens (raster order), subtract key from query: "
        "offsets in [-(P-1), P-1] x [-(M-1), M-1]^2. Add (P-1, M-1, M-1) to make them >= 0.",
        "Read the shifted offsets (a, b, c) as a mixed-radix number: a*(2M-1)^2 + b*(2M-1) + c.",
    ],
    solution="def my_index(window_size):\n"
    "    P, M, _ = window_size\n"
    "    coords = window_coords(window_size)                    # (N, 3)\n"
    "    rel = coords[:, None, :] - coords[None, :, :]          # (N, N, 3) query - key\n"
    "    rel = rel + torch.tensor([P - 1, M - 1, M - 1])        # >= 0\n"
    "    return rel[..., 0] * (2*M - 1)**2 + rel[..., 1] * (2*M - 1) + rel[..., 2]",
)
def check_index(fn) -> str:
    """``fn(window_size) -> LongTensor (N, N)`` equal to :func:`vswin_edu.relpos.relative_position_index`."""
    for window in _INDEX_CASES:
        case = f"window {window}"
        want = relative_position_index(window)
        got = _check_index_tensor(fn(window), want.shape[0], case)
        if torch.equal(got, want):
            continue
        lines = [f"for {case}: {_pair_text(want, got, window)}."]
        rows = table_size(window)
        collision = first_collision(got, window)
        if torch.equal(got, want.T):
            lines.append("likely cause: key - query instead of query - key (the index is transposed).")
        elif int(got.min()) < 0:
            lines.append(
                f"likely cause: negative index {int(got.min())} — shift the offsets by (P-1, M-1, M-1) first."
            )
        elif collision:
            lines.append(
                f"{collision}: the map offsets -> index is not one-to-one, so two different offsets would "
                "silently share one learned bias.\nlikely cause: wrong multipliers — each axis has 2P-1 or "
                "2M-1 possible offsets, so the strides are ((2M-1)^2, 2M-1, 1)."
            )
        elif int(got.max()) >= rows:
            lines.append(
                f"index {int(got.max())} is outside the table of {rows} rows: check the multipliers."
            )
        raise Mismatch("\n".join(lines))
    return "8x7x7: 392 x 392 pairs, 2535 = 15*13*13 distinct offsets, each with its own table row."


# ---------------------------------------------------------------------------------------------- 6.2

_SHRUNK_CASES: list[tuple[Size3, Size3]] = [
    ((4, 7, 7), (8, 7, 7)),
    ((8, 4, 4), (8, 7, 7)),
    ((2, 2, 3), (2, 4, 4)),
]


@exercise(
    "6.2",
    "the index of a shrunken window",
    hints=[
        "The small window's tokens sit at its own coordinates (vswin_edu.relpos.window_coords of the "
        "small window), but the table was built for the full window: its offsets are shifted by "
        "(P-1, M-1, M-1) and strided by ((2M-1)^2, 2M-1, 1) of the FULL window.",
        "Slicing the full index [:N, :N] takes the first N tokens of the full window, which are not "
        "the small window's tokens when H or W shrink.",
    ],
    solution="def my_shrunken_index(window_size, table_window):\n"
    "    Pf, Mf, _ = table_window\n"
    "    coords = window_coords(window_size)                    # (N, 3) the small window\n"
    "    rel = coords[:, None, :] - coords[None, :, :] + torch.tensor([Pf - 1, Mf - 1, Mf - 1])\n"
    "    return rel[..., 0] * (2*Mf - 1)**2 + rel[..., 1] * (2*Mf - 1) + rel[..., 2]",
)
def check_shrunken_index(fn) -> str:
    """``fn(window_size, table_window) -> (N, N)`` index of the small window into the full table."""
    for window, full in _SHRUNK_CASES:
        case = f"window {window} inside the table of {full}"
        want = relative_position_index(window, table_window=full)
        N = want.shape[0]
        got = _check_index_tensor(fn(window, full), N, case)
        if torch.equal(got, want):
            continue
        lines = [f"for {case}: {_pair_text(want, got, window)}."]
        if torch.equal(got, relative_position_index(full)[:N, :N]):
            lines.append(
                "likely cause: the upstream [:N, :N] bug — the first N tokens of the full window are not "
                "the small window's tokens once H or W shrink; index the small window's own coordinates."
            )
        elif torch.equal(got, relative_position_index(window)):
            lines.append(
                "likely cause: you used the small window's own offsets and strides; the table rows are laid "
                "out for the full window, so shift by the full window's (P-1, M-1, M-1) and use its strides."
            )
        raise Mismatch("\n".join(lines))
    return "right for a temporal-only shrink and for spatial shrinks, where [:N, :N] is wrong."


# ---------------------------------------------------------------------------------------------- 6.3


@exercise(
    "6.3",
    "gather the bias from the table",
    hints=[
        "table[index] picks one row (one value per head) for every (query, key) pair: (N, N, nH).",
        "Put the heads first: table[index.reshape(-1)].reshape(N, N, nH).permute(2, 0, 1).",
    ],
    solution="def bias_from_table(table, index):\n"
    "    N = index.shape[0]\n"
    "    return table[index.reshape(-1)].reshape(N, N, -1).permute(2, 0, 1)  # (nH, N, N)",
)
def check_bias(fn) -> str:
    """``fn(table, index) -> (nH, N, N)`` for the index of a window (checked on a shrunken one too)."""
    gen = torch.Generator().manual_seed(6)
    full, small, nH = (2, 3, 3), (2, 2, 3), 3
    table = torch.randn(table_size(full), nH, generator=gen)
    for window in (full, small):
        index = relative_position_index(window, table_window=full)
        N = index.shape[0]
        want = brute_force_relative_bias(table, window, full)  # (nH, N, N)
        got = fn(table.clone(), index.clone())
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (nH, N, N):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Mismatch(
                f"for window {window} with {nH} heads expected (nH, N, N) = {(nH, N, N)}, got {shape}."
            )
        if torch.allclose(got, want):
            continue
        h, i, j = (int(v) for v in torch.nonzero(~torch.isclose(got, want))[0])
        lines = [
            f"for window {window}, head {h}, query {i}, key {j}: expected table[{int(index[i, j])}, {h}] = "
            f"{float(want[h, i, j]):.4f}, got {float(got[h, i, j]):.4f}."
        ]
        if torch.equal(got, table[index.reshape(-1)].reshape(nH, N, N)):
            lines.append(
                "likely cause: reshaping (N*N, nH) straight to (nH, N, N) mixes heads and pairs; "
                "reshape to (N, N, nH) and permute(2, 0, 1)."
            )
        raise Mismatch("\n".join(lines))
    return "every head reads its own column of the table; the shrunken window matches the brute-force bias."
