"""Chapter 4 exercises: the cyclic shift, window counts, and which blocks shift (paper Sec. 3.2).

4.1  roll a numbered token grid by the cyclic shift (``torch.roll`` sign and axes)
4.2  count windows: naive shifted partition vs cyclic shift
4.3  the block timeline W / SW / W / SW: which blocks of a stage shift, and by how much
"""

from __future__ import annotations

import math

import torch

from ..shift import cyclic_shift
from ._core import Mismatch, exercise

Size3 = tuple[int, int, int]


def numbered_grid(dhw: Size3) -> torch.Tensor:
    """A grid ``(1, D, H, W, 1)`` whose value is each token's raster number in the *original* grid."""
    D, H, W = dhw
    return torch.arange(D * H * W).reshape(1, D, H, W, 1)  # (1, D, H, W, 1)


def _thw(number: int, dhw: Size3) -> Size3:
    """Raster number -> ``(t, h, w)`` coordinates."""
    _, H, W = dhw
    return number // (H * W), (number // W) % H, number % W


def _position(grid: torch.Tensor, number: int) -> Size3 | None:
    """Where the token numbered ``number`` sits in a ``(1, D, H, W, 1)`` grid (None if it is missing)."""
    found = torch.nonzero(grid[0, ..., 0] == number)
    return tuple(int(v) for v in found[0]) if len(found) else None  # type: ignore[return-value]


def _as_tensor(got: object, what: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"{what} must return a torch.Tensor, got {type(got).__name__}.")
    return got


# ---------------------------------------------------------------------------------------------- 4.1

_ROLL_CASES: list[tuple[Size3, Size3]] = [
    ((4, 6, 6), (1, 2, 3)),
    ((4, 6, 6), (0, 0, 0)),
    ((3, 5, 7), (1, 0, 2)),
]


def _diagnose_roll(got: torch.Tensor, x: torch.Tensor, dhw: Size3, shift: Size3) -> str:
    """Name the known mistake that produces ``got``, or '' if none matches."""
    sd, sh, sw = shift
    known = {
        "you rolled by +shift: the cyclic shift rolls by -shift, so that the token at (sd, sh, sw) "
        "moves to the origin (0, 0, 0)": torch.roll(x, (sd, sh, sw), dims=(1, 2, 3)),
        "you rolled the wrong axes: a grid (B, D, H, W, C) has D, H, W on dims (1, 2, 3)": torch.roll(
            x, (-sd, -sh, -sw), dims=(0, 1, 2)
        ),
        "you returned the grid unchanged": x,
    }
    for cause, wrong in known.items():
        if wrong.shape == got.shape and torch.equal(wrong, got):
            return cause
    return ""


@exercise(
    "4.1",
    "cyclic shift of a token grid",
    hints=[
        "torch.roll(x, shifts, dims) moves the entry at index i to index i + shift (wrapping round). "
        "After the cyclic shift the token that was at (sd, sh, sw) must sit at (0, 0, 0).",
        "So the shifts are negative: torch.roll(x, shifts=(-sd, -sh, -sw), dims=(1, 2, 3)).",
    ],
    solution="def my_cyclic_shift(x, shift):\n"
    "    sd, sh, sw = shift\n"
    "    return torch.roll(x, shifts=(-sd, -sh, -sw), dims=(1, 2, 3))",
)
def check_cyclic_shift(fn) -> str:
    """``fn(x, shift)`` on ``(B, D, H, W, C)`` must equal :func:`vswin_edu.shift.cyclic_shift`."""
    for dhw, shift in _ROLL_CASES:
        x = numbered_grid(dhw)
        got = _as_tensor(fn(x.clone(), shift), "my_cyclic_shift")
        want = cyclic_shift(x, shift)
        if got.shape != want.shape:
            raise Mismatch(
                f"tested a numbered grid of shape {tuple(x.shape)} with shift {shift}: expected the same "
                f"shape back, got {tuple(got.shape)}."
            )
        if torch.equal(got, want):
            continue
        cause = _diagnose_roll(got, x, dhw, shift)
        first = torch.nonzero(got != want)[0].tolist()  # [b, t, h, w, c]
        pos = tuple(first[1:4])
        lines = [
            f"tested a numbered {dhw[0]}x{dhw[1]}x{dhw[2]} grid with shift {shift}.",
            f"at position {pos} of the rolled grid expected the token that started at "
            f"{_thw(int(want[tuple(first)]), dhw)}, got the token from {_thw(int(got[tuple(first)]), dhw)}.",
        ]
        lines.append(
            f"token (0, 0, 0) should land at {_position(want, 0)}; in yours it landed at {_position(got, 0)}."
        )
        if cause:
            lines.append(f"likely cause: {cause}.")
        raise Mismatch("\n".join(lines))
    return f"checked {len(_ROLL_CASES)} grids, including a zero shift and an axis with shift 0."


# ---------------------------------------------------------------------------------------------- 4.2


def windows_naive(dhw: Size3, window_size: Size3, shift_size: Size3) -> int:
    """Windows of the displaced partition without the cyclic shift (partial windows padded).

    Per axis the displaced windows start at ``s + k*w``; positions ``[0, s)`` form one more, partial
    window in front, so a shifted axis needs ``ceil((L - s) / w) + 1`` windows instead of ``ceil(L / w)``.
    """
    n = 1
    for length, w, s in zip(dhw, window_size, shift_size, strict=True):
        n *= -(-(length - s) // w) + (1 if s else 0)
    return n


def windows_cyclic(dhw: Size3, window_size: Size3) -> int:
    """Windows after the cyclic shift: the regular count ``ceil(D/P) ceil(H/M) ceil(W/M)``."""
    n = 1
    for length, w in zip(dhw, window_size, strict=True):
        n *= -(-length // w)
    return n


_COUNT_CASES: list[tuple[Size3, Size3, Size3]] = [
    ((16, 56, 56), (8, 7, 7), (4, 3, 3)),  # Swin-T stage 1 at 32x224x224: 243 vs 128
    ((4, 8, 8), (2, 4, 4), (1, 2, 2)),
    ((16, 56, 56), (8, 7, 7), (4, 0, 0)),  # temporal shift only
    ((16, 7, 7), (8, 7, 7), (4, 0, 0)),  # Swin-T stage 4: spatial shift dropped
]


@exercise(
    "4.2",
    "count windows: naive padding vs cyclic shift",
    hints=[
        "Cyclic shift: the count never changes, ceil(D/P)*ceil(H/M)*ceil(W/M). Naive: on every axis "
        "with a shift s > 0 the displaced windows start at s, s+w, ... and the first s positions form "
        "one more (partial) window.",
        "Per axis: naive = ceil((L - s) / w) + (1 if s > 0 else 0); multiply the three axes.",
    ],
    solution="def count_windows(dhw, window_size, shift_size):\n"
    "    naive, cyclic = 1, 1\n"
    "    for L, w, s in zip(dhw, window_size, shift_size):\n"
    "        naive *= math.ceil((L - s) / w) + (1 if s > 0 else 0)\n"
    "        cyclic *= math.ceil(L / w)\n"
    "    return naive, cyclic",
)
def check_count_windows(fn) -> str:
    """``fn(dhw, window_size, shift_size) -> (naive, cyclic)`` window counts."""
    for dhw, window, shift in _COUNT_CASES:
        got = fn(dhw, window, shift)
        want = (windows_naive(dhw, window, shift), windows_cyclic(dhw, window))
        if not (isinstance(got, tuple | list) and len(got) == 2):
            raise Mismatch(f"count_windows must return a pair (naive, cyclic), got {got!r}.")
        got = (int(got[0]), int(got[1]))
        if got == want:
            continue
        case = f"grid {dhw}, window {window}, shift {shift}"
        lines = [f"for {case}: expected (naive, cyclic) = {want}, got {got}."]
        if got == want[::-1]:
            lines.append("likely cause: the two numbers are swapped (naive first, then cyclic).")
        elif got[0] == want[1]:
            lines.append(
                "likely cause: your naive count equals the regular count — without the cyclic shift "
                "each shifted axis needs one more (partial) window in front."
            )
        elif 0 in shift and got[0] == math.prod(-(-n // w) + 1 for n, w in zip(dhw, window, strict=True)):
            lines.append("likely cause: you added the extra window on an axis whose shift is 0.")
        raise Mismatch("\n".join(lines))
    return "Swin-T stage 1 (16x56x56, window 8x7x7): 243 naive windows vs 128 with the cyclic shift."


# ---------------------------------------------------------------------------------------------- 4.3


def stage_shifts(depth: int, window_size: Size3) -> list[Size3]:
    """Shift of every block of a stage: ``(0, 0, 0)`` in even blocks, ``(P//2, M//2, M//2)`` in odd ones."""
    half = tuple(w // 2 for w in window_size)
    return [half if j % 2 else (0, 0, 0) for j in range(depth)]  # type: ignore[misc]


@exercise(
    "4.3",
    "which blocks shift: the W / SW timeline",
    hints=[
        "Blocks of a stage come in pairs: block 0 uses regular windows (W-MSA), block 1 shifted "
        "windows (SW-MSA), block 2 regular again, ...",
        "The shift is half the window, rounded down: (P // 2, M // 2, M // 2); regular blocks get (0, 0, 0).",
    ],
    solution="def shifts_for_stage(depth, window_size):\n"
    "    half = tuple(w // 2 for w in window_size)\n"
    "    return [half if j % 2 == 1 else (0, 0, 0) for j in range(depth)]",
)
def check_stage_shifts(fn) -> str:
    """``fn(depth, window_size) -> list`` of one shift triple per block."""
    for depth, window in [(2, (8, 7, 7)), (6, (8, 7, 7)), (3, (2, 4, 4))]:
        raw = fn(depth, window)
        if not isinstance(raw, list | tuple) or len(raw) != depth:
            raise Mismatch(
                f"for depth {depth} expected a list of {depth} shifts (one per block), got {raw!r}."
            )
        got = [tuple(int(v) for v in s) for s in raw]
        want = stage_shifts(depth, window)
        if got == want:
            continue
        j = next(k for k in range(depth) if got[k] != want[k])
        lines = [f"depth {depth}, window {window}: block {j} should have shift {want[j]}, got {got[j]}."]
        if got == stage_shifts(depth + 1, window)[1:]:
            lines.append("likely cause: the shift goes in the odd blocks (1, 3, ...); block 0 is regular.")
        elif all(s == got[1] for s in got):
            lines.append("likely cause: you gave every block the same shift — regular and shifted alternate.")
        elif got[j] == tuple(window):
            lines.append("likely cause: the shift is half the window (P/2, M/2, M/2), not the whole window.")
        elif got[j] == tuple(-(-w // 2) for w in window):
            lines.append("likely cause: rounding up; the paper's shift is floor(w / 2): 7 // 2 = 3.")
        raise Mismatch("\n".join(lines))
    return "Swin-T stage 3 (6 blocks): W, SW, W, SW, W, SW with shift (4, 3, 3)."
