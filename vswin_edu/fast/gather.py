"""Shift + partition as one gather (replaces :func:`vswin_edu.shift.cyclic_shift` followed by
:func:`vswin_edu.windows.window_partition`, and their inverses).

Shift and partition only move tokens, so together they are one permutation of the ``L = D*H*W``
tokens.  :func:`token_order` computes that permutation once per grid by running the readable steps
on token *ids*, and the block then moves the features with a single ``index_select`` — instead of a
roll (which copies the grid once per rolled axis) followed by a partition copy, about ten times
less time (appendix 14).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from ..shift import cyclic_shift
from ..windows import Size3, effective_window, window_partition
from .groups import shifted_window_groups


@lru_cache(maxsize=256)
def window_plan(dhw: Size3, window_size: Size3, shift_size: Size3) -> tuple[Size3, Size3]:
    """:func:`vswin_edu.windows.effective_window`, computed once per (grid, window, shift)."""
    return effective_window(dhw, window_size, shift_size)


@lru_cache(maxsize=256)
def token_order(
    dhw: Size3, window_size: Size3, shift_size: Size3, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift + partition as one permutation of the tokens of a padded grid, and its inverse.

    ``order`` is what :func:`window_partition` of :func:`cyclic_shift` does to the token ids
    ``0 .. L-1``, with the windows of a shifted grid sorted by mask pattern
    (:func:`vswin_edu.fast.groups.shifted_window_groups`), so for a grid ``x`` ``(B, D, H, W, C)``::

        window_partition(cyclic_shift(x, shift), window)[:, groups.order]
            ==  x.flatten(1, 3)[:, order].view(B, nW, N, C)

    and ``inverse`` (``order.argsort()``) undoes it: window reverse + reverse shift.  Both are
    ``LongTensor (L,)``, built once per (padded grid, window, shift, device).
    """
    with torch.inference_mode(False):  # built under inference_mode, still usable in training
        ids = torch.arange(dhw[0] * dhw[1] * dhw[2]).view(1, *dhw, 1)  # (1, D, H, W, 1)
        order = window_partition(cyclic_shift(ids, shift_size), window_size)  # (nW, N, 1)
        if any(shift_size):
            order = order[shifted_window_groups(dhw, window_size, shift_size).order]
        order = order.flatten()  # (nW*N,)
        return order.to(device), order.argsort().to(device)
