"""Reading masks for the mask figures and the mask debugger (private helpers of :mod:`.masks`).

A mask may be boolean (True = may attend), additive float (0 / -100 / -1e4 / -inf) of shape
``(nW, N, N)``, or a callable ``mask(dhw, window_size, shift_size)`` returning one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..reference import as_allowed
from ..shift import region_ids, shifted_window_allowed
from ..windows import window_partition
from ._draw import Geometry, original_to_rolled, window_rolled_positions

MaskLike = torch.Tensor | Callable[..., torch.Tensor]


def resolve_mask(mask: MaskLike, geo: Geometry) -> torch.Tensor:
    """A user mask as a boolean ``(nW, N, N)`` tensor (True = may attend), shape-checked."""
    if callable(mask):
        mask = mask(geo.padded, geo.window, geo.shift)
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor or a callable returning one, got {type(mask).__name__}")
    expected = (geo.num_windows, geo.tokens_per_window, geo.tokens_per_window)
    if tuple(mask.shape) != expected:
        raise ValueError(f"mask must have shape (nW, N, N) = {expected}, got {tuple(mask.shape)}")
    return as_allowed(mask.detach().cpu())


def window_regions(geo: Geometry) -> torch.Tensor:
    """Region id of every token of every window, ``LongTensor (nW, N)``."""
    ids = region_ids(geo.padded, geo.window, geo.shift)  # (D, H, W)
    return window_partition(ids[None, ..., None], geo.window)[..., 0]  # (nW, N)


def allowed_pairs(mask: MaskLike | None, geo: Geometry) -> torch.Tensor:
    """The user's mask as booleans, or the correct one, ``(nW, N, N)``."""
    if mask is None:
        return shifted_window_allowed(geo.padded, geo.window, geo.shift)
    return resolve_mask(mask, geo)


def check_window(geo: Geometry, window_index: int) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``window_index`` is a window of this grid."""
    window_rolled_positions(geo, window_index)  # validates type and range


def check_token(geo: Geometry, query_index: int | None) -> None:
    """Raise ``ValueError`` unless ``query_index`` is None or a token number of a window."""
    N = geo.tokens_per_window
    if query_index is not None and (
        isinstance(query_index, bool) or not isinstance(query_index, int) or not 0 <= query_index < N
    ):
        raise ValueError(f"query_index must be a token number in [0, {N}) or None, got {query_index!r}")


def locate(geo: Geometry, query: tuple[int, int, int]) -> tuple[int, int, tuple[int, int, int]]:
    """Where the token at original position ``query`` sits after the roll.

    Returns:
        ``(window_index, token_index, rolled_position)``: its window (raster order), its number
        inside the window (raster order) and its ``(t, h, w)`` on the rolled grid.
    """
    if len(query) != 3 or not all(0 <= int(a) < n for a, n in zip(query, geo.padded, strict=True)):
        raise ValueError(f"query (t, h, w) must lie in the padded grid {geo.padded}, got {tuple(query)}")
    rolled = original_to_rolled(tuple(int(a) for a in query), geo.shift, geo.padded)
    (_, nh, nw), (wd, wh, ww) = geo.window_grid, geo.window
    k = (rolled[0] // wd * nh + rolled[1] // wh) * nw + rolled[2] // ww
    i = ((rolled[0] % wd) * wh + rolled[1] % wh) * ww + rolled[2] % ww
    return k, i, rolled
