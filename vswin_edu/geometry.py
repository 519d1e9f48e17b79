"""Grid geometry: where every token of a block's grid goes (chapters 3-5; used by the oracles,
the figures, the widgets and the exercises).

A block clamps its window to the grid, pads, rolls and partitions (:mod:`vswin_edu.windows`,
:mod:`vswin_edu.shift`).  The functions here answer the questions a picture or a debugger asks
about that plumbing, in one place: which window a position falls in (:func:`window_ids`), which
positions a window holds (:func:`window_positions`), where a token goes in the partition
(:func:`locate_in_windows`), and where a rolled token came from (:func:`rolled_to_original`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._checks import check_shift, shift_triple, triple
from .windows import (
    Size3,
    _check_divisible,
    effective_window,
    num_windows,
    pad_sizes,
    window_coords,
    window_partition,
)


@dataclass(frozen=True)
class WindowGeometry:
    """A token grid and the windows a block really uses on it (:func:`window_geometry`).

    ``dhw`` is the grid as given, ``padded`` the grid padded up to window multiples, ``window`` and
    ``shift`` the effective (possibly clamped) window and shift, ``clamped`` whether they changed.
    """

    dhw: Size3
    padded: Size3
    window: Size3
    shift: Size3
    clamped: bool

    @property
    def window_grid(self) -> Size3:
        """Windows per axis, ``(D/P, H/M, W/M)`` on the padded grid."""
        return tuple(n // w for n, w in zip(self.padded, self.window, strict=True))  # type: ignore[return-value]

    @property
    def num_windows(self) -> int:
        """``nW``, the windows of the padded grid."""
        nd, nh, nw = self.window_grid
        return nd * nh * nw

    @property
    def tokens_per_window(self) -> int:
        """``N = P*M*M`` of the effective window."""
        wd, wh, ww = self.window
        return wd * wh * ww


def window_geometry(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int] = (0, 0, 0)
) -> WindowGeometry:
    """What a block does to a grid before it partitions: clamp the window, then pad.

    Example: a ``(5, 9, 7)`` grid with window ``(4, 4, 8)`` and shift ``(2, 2, 4)`` is attended in
    ``(4, 4, 7)`` windows shifted by ``(2, 2, 0)`` (W is smaller than the window) on the padded
    ``(8, 12, 7)`` grid: 6 windows.
    """
    grid = triple(tuple(dhw), "dhw")
    window, shift = effective_window(grid, window_size, shift_size)
    padded = tuple(n + p for n, p in zip(grid, pad_sizes(grid, window), strict=True))
    clamped = window != triple(window_size, "window_size") or shift != shift_triple(shift_size)
    return WindowGeometry(grid, padded, window, shift, clamped)  # type: ignore[arg-type]


def window_ids(dhw: Sequence[int], window_size: Sequence[int]) -> torch.Tensor:
    """The window (raster number) of every position of a padded grid, ``LongTensor (D, H, W)``.

    Worked example: ``dhw = (2, 2, 4)``, window ``(1, 2, 2)`` gives ``[[[0, 0, 1, 1], [0, 0, 1, 1]],
    [[2, 2, 3, 3], [2, 2, 3, 3]]]`` — windows in raster order over the window grid ``(2, 1, 2)``.
    """
    D, H, W = triple(tuple(dhw), "dhw")
    wd, wh, ww = triple(window_size, "window_size")
    _check_divisible((D, H, W), (wd, wh, ww), "the padded grid dhw")
    nh, nw = H // wh, W // ww
    d = torch.arange(D)[:, None, None] // wd
    h = torch.arange(H)[None, :, None] // wh
    w = torch.arange(W)[None, None, :] // ww
    return d * nh * nw + h * nw + w  # (D, H, W)


def window_positions(window_index: int, dhw: Sequence[int], window_size: Sequence[int]) -> torch.Tensor:
    """Grid positions ``(d, h, w)`` of the N tokens of window ``window_index``, ``LongTensor (N, 3)``.

    The tokens are in raster order inside the window, as :func:`window_partition` lays them out, so
    ``window_partition(x, window)[k, i] == x[0, *window_positions(k, dhw, window)[i]]`` for B = 1.
    """
    window = triple(window_size, "window_size")
    grid = triple(tuple(dhw), "dhw")
    _check_divisible(grid, window, "the padded grid dhw")
    nW = num_windows(grid, window)
    if isinstance(window_index, bool) or not isinstance(window_index, int):
        raise TypeError(f"window_index must be an int, got {type(window_index).__name__}")
    if not 0 <= window_index < nW:
        raise ValueError(f"window_index must be in [0, {nW}) for this grid, got {window_index}")
    _, nh, nw = (n // w for n, w in zip(grid, window, strict=True))
    corner = torch.tensor([window_index // (nh * nw), window_index // nw % nh, window_index % nw])
    return corner * torch.tensor(window) + window_coords(window)  # (N, 3)


def locate_in_windows(
    position: Sequence[int], window_size: Sequence[int], dhw: Sequence[int]
) -> tuple[int, int]:
    """Where the token at grid ``position = (d, h, w)`` goes in :func:`window_partition`.

    Returns ``(window_index, token_index)``: its window (raster order over the window grid) and its
    number inside the window (raster order) — the inverse of :func:`window_positions`.
    """
    wd, wh, ww = triple(window_size, "window_size")
    grid = triple(tuple(dhw), "dhw")
    _check_divisible(grid, (wd, wh, ww), "the padded grid dhw")  # the window grid is (D/P, H/M, W/M)
    if len(position) != 3 or not all(0 <= int(a) < n for a, n in zip(position, grid, strict=True)):
        raise ValueError(f"position (d, h, w) must lie in the grid {grid}, got {tuple(position)}")
    d, h, w = (int(a) for a in position)
    _, nh, nw = grid[0] // wd, grid[1] // wh, grid[2] // ww
    k = (d // wd * nh + h // wh) * nw + w // ww
    i = ((d % wd) * wh + h % wh) * ww + w % ww
    return k, i


def rolled_to_original(
    position: Sequence[int], shift: Sequence[int], dhw: Sequence[int]
) -> tuple[int, int, int]:
    """Where the token at *rolled* position ``q`` sat before :func:`cyclic_shift`: ``(q + s) mod L``.

    1D example (``L = 8``, ``s = 2``): rolled position 6 holds the token from 0, rolled 0 the one from 2.
    """
    grid, shift = _roll_args(position, shift, dhw)
    return tuple((int(q) + s) % n for q, s, n in zip(position, shift, grid, strict=True))  # type: ignore[return-value]


def original_to_rolled(
    position: Sequence[int], shift: Sequence[int], dhw: Sequence[int]
) -> tuple[int, int, int]:
    """Where :func:`cyclic_shift` puts the token at *original* position ``p``: ``(p - s) mod L``."""
    grid, shift = _roll_args(position, shift, dhw)
    return tuple((int(p) - s) % n for p, s, n in zip(position, shift, grid, strict=True))  # type: ignore[return-value]


def _roll_args(position: Sequence[int], shift: Sequence[int], dhw: Sequence[int]) -> tuple[Size3, Size3]:
    """Check a position, shift and grid for the roll arithmetic: the position lies in the grid and
    the shift is smaller than the grid on every shifted axis (``mod L`` would hide a larger one)."""
    grid, shift3 = triple(tuple(dhw), "dhw"), shift_triple(shift, "shift")
    if any(s and s >= n for s, n in zip(shift3, grid, strict=True)):
        raise ValueError(f"shift must be smaller than the grid {grid} on every shifted axis, got {shift3}")
    if len(position) != 3 or not all(0 <= int(a) < n for a, n in zip(position, grid, strict=True)):
        raise ValueError(f"position (t, h, w) must lie in the grid {grid}, got {tuple(position)}")
    return grid, shift3


def window_token_origins(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """Original position ``(t, h, w)`` of every token of every rolled window, ``LongTensor (nW, N, 3)``.

    Window ``k``, token ``i`` of ``window_partition(cyclic_shift(x, shift), window)`` is the token
    that sat at ``origins[k, i]`` of ``x`` (:func:`rolled_to_original` of its rolled position).
    """
    grid, window, shift = (
        triple(tuple(dhw), "dhw"),
        triple(window_size, "window_size"),
        shift_triple(shift_size),
    )
    check_shift(window, shift)
    _check_divisible(grid, window, "the padded grid dhw")
    axes = [torch.arange(n) for n in grid]
    rolled = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (D, H, W, 3)
    origin = (rolled + torch.tensor(shift)) % torch.tensor(grid)  # (D, H, W, 3)
    return window_partition(origin[None], window)  # (nW, N, 3)


def shifted_window_ids(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """The shifted window of every token *at its original position*, ``LongTensor (D, H, W)``.

    The cyclic shift moves the token at original ``p`` to rolled ``(p - s) mod L``, so its window is
    the regular window (:func:`vswin_edu.windows.window_ids`) of that rolled position.
    """
    shift = shift_triple(shift_size)
    check_shift(triple(window_size, "window_size"), shift)
    ids = window_ids(dhw, window_size)  # (D, H, W) on the rolled grid
    return torch.roll(ids, shifts=shift, dims=(0, 1, 2))  # ids[p] = rolled_ids[p - s]


def locate_token(
    position: Sequence[int], geo: WindowGeometry, name: str = "position"
) -> tuple[int, int, Size3]:
    """Where the token at *original* position ``(t, h, w)`` of a padded grid goes in a block.

    Returns ``(window_index, token_index, rolled_position)``: its window after the cyclic shift
    (raster order), its number inside that window (raster order) and its position on the rolled
    grid — the row of the ``(nW, N, N)`` mask and attention weights that belongs to this token.
    """
    if len(position) != 3 or not all(0 <= int(a) < n for a, n in zip(position, geo.padded, strict=True)):
        raise ValueError(f"{name} (t, h, w) must lie in the padded grid {geo.padded}, got {tuple(position)}")
    rolled = original_to_rolled(position, geo.shift, geo.padded)
    k, i = locate_in_windows(rolled, geo.window, geo.padded)
    return k, i, rolled
