"""Masks, window groups and bias indices built once per grid (replace rebuilding them every forward).

The readable block (:func:`vswin_edu.block.shifted_window_attention`) builds the shifted-window mask
(:func:`vswin_edu.shift.shifted_window_mask`) and, for a shrunken window, the relative-position
index (:func:`vswin_edu.relpos.relative_position_index`) on every forward, as torchvision does.
Both depend only on the grid, the window and the shift — never on the data — so the fast route
builds them once and looks them up (``lru_cache``).  It also groups the windows by their mask
pattern: a shifted grid has at most ``2^3 = 8`` distinct ``(N, N)`` patterns, so attention can
add one small mask per group instead of one ``(nW, nH, N, N)`` tensor (:mod:`.attention`).

Everything cached here is built with ``torch.inference_mode(False)``: a tensor first made inside
``inference_mode`` could not be used by a later training step.  Cached tensors are shared: treat
them as read-only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import torch

from .._checks import shift_triple, triple
from ..relpos import relative_position_index
from ..shift import shifted_window_mask

Size3 = tuple[int, int, int]


@lru_cache(maxsize=128)
def cached_shifted_window_mask(
    dhw: Size3, window_size: Size3, shift_size: Size3, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """:func:`vswin_edu.shift.shifted_window_mask` built once per (padded grid, window, shift,
    device, dtype), ``(nW, N, N)``."""
    with torch.inference_mode(False):
        return shifted_window_mask(dhw, window_size, shift_size).to(device=device, dtype=dtype)


@lru_cache(maxsize=128)
def cached_relative_position_index(window: Size3, table_window: Size3, device: torch.device) -> torch.Tensor:
    """:func:`vswin_edu.relpos.relative_position_index` of a (shrunken) window, built once, ``(N, N)``."""
    with torch.inference_mode(False):
        return relative_position_index(window, table_window).to(device)


class WindowGroups(NamedTuple):
    """The windows of a shifted grid sorted so that windows with the same mask pattern are adjacent.

    ``order[k]`` is the raster number of the k-th window in sorted order; group ``g`` is the run of
    ``sizes[g]`` windows that all have the pattern ``masks[g]``.
    """

    order: torch.Tensor  # LongTensor (nW,): raster window numbers, group after group
    sizes: tuple[int, ...]  # windows per group, in order
    masks: torch.Tensor  # (G, N, N): the additive mask pattern of each group


def shifted_window_groups(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> WindowGroups:
    """Group the windows of a shifted grid by their mask pattern — at most ``2^3 = 8`` groups.

    Only the *last* window along a shifted axis meets a wrapped piece (regions 1 and 2 of that
    axis); every other window lies inside region 0.  So the pattern of a window depends only on
    whether it is last along each shifted axis, and the interior windows share the all-zero
    pattern.  Examples with window ``(2, 4, 4)`` and shift ``(1, 2, 2)``: ``(4, 8, 8)`` tokens give
    8 windows in 8 groups of one; ``(4, 12, 12)`` give 18 windows in 8 groups, the largest holding
    the 4 windows that are last along no axis.  Swin-T's first shifted block at 32x224x224 has 128
    windows in groups of 49, 49, 7, 7, 7, 7, 1, 1.
    """
    window, shift = triple(window_size, "window_size"), shift_triple(shift_size)
    mask = shifted_window_mask(dhw, window, shift)  # (nW, N, N); also checks the arguments
    counts = [n // w for n, w in zip(dhw, window, strict=True)]  # windows along D, H, W
    groups: dict[tuple[bool, ...], list[int]] = {}
    for k, position in enumerate(itertools.product(*(range(n) for n in counts))):  # raster order
        last = tuple(s > 0 and p == n - 1 for p, n, s in zip(position, counts, shift, strict=True))
        groups.setdefault(last, []).append(k)
    members = list(groups.values())
    order = torch.tensor([k for group in members for k in group], dtype=torch.long)
    return WindowGroups(order, tuple(len(g) for g in members), mask[[g[0] for g in members]])


@lru_cache(maxsize=128)
def cached_window_groups(
    dhw: Size3, window_size: Size3, shift_size: Size3, device: torch.device, dtype: torch.dtype
) -> WindowGroups:
    """:func:`shifted_window_groups` built once per (padded grid, window, shift, device, dtype)."""
    with torch.inference_mode(False):
        order, sizes, masks = shifted_window_groups(dhw, window_size, shift_size)
        return WindowGroups(order.to(device), sizes, masks.to(device=device, dtype=dtype))
