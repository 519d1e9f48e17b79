"""Shifted windows: cyclic shift, region ids and the attention mask (Sec. 3.2; chapters 4-5).

Consecutive Video Swin blocks alternate regular windows and windows displaced by
``(P/2, M/2, M/2)`` so that information crosses window borders.  Displacing the windows naively
creates partial windows at the borders (more windows, more padding).  The paper's trick, taken
from Swin, is a *cyclic shift*: roll the grid by ``-shift`` so that the displaced windows line up
with the regular grid again, attend, and roll back.  A rolled window may then hold tokens that were
not neighbours in the video (pieces wrapped round from the far border); the attention *mask*
stops them from attending to each other.

Worked example in 1D (``L=8``, window ``w=4``, shift ``s=2``): the rolled sequence is
``[2 3 4 5 | 6 7 0 1]``; the second window holds ``6 7`` and the wrapped ``0 1``, so it gets two
*regions* and tokens of different regions must not attend.  In 3D every axis contributes up to
three slices, ``[0, L-w)``, ``[L-w, L-s)`` and ``[L-s, L)``, so a grid has up to ``3^3 = 27``
regions — although any one window meets at most ``2^3 = 8`` of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import torch

from ._checks import check_tokens, shift_triple, triple
from .windows import _check_divisible, window_partition

# Logit added where two tokens may not attend.  -100 (not -inf) is what the official code and
# torchvision use, so pretrained weights behave identically: exp(-100) ~ 4e-44 is zero for any
# softmax in fp32/bf16.  It is also finite, so a row that is masked everywhere cannot turn into NaN.
# In fp16 the *masked* logits are fine (-100 is representable), but QK^T itself can overflow fp16's
# 65504 — compute attention in fp32 or bf16 (chapter 5's masked-softmax lab).
MASKED_LOGIT = -100.0


def cyclic_shift(x: torch.Tensor, shift: Sequence[int]) -> torch.Tensor:
    """Roll a token grid ``(B, D, H, W, C)`` by ``-shift`` on (D, H, W) — the paper's cyclic shift.

    After the roll, the token that was at ``(sd, sh, sw)`` sits at ``(0, 0, 0)``: the displaced
    windows now start at the origin of the regular window grid.
    """
    check_tokens(x)
    sd, sh, sw = shift_triple(shift, "shift")
    if sd == sh == sw == 0:
        return x
    return torch.roll(x, shifts=(-sd, -sh, -sw), dims=(1, 2, 3))  # (B, D, H, W, C)


def reverse_cyclic_shift(x: torch.Tensor, shift: Sequence[int]) -> torch.Tensor:
    """Undo :func:`cyclic_shift`: roll by ``+shift`` on (D, H, W)."""
    check_tokens(x)
    sd, sh, sw = shift_triple(shift, "shift")
    if sd == sh == sw == 0:
        return x
    return torch.roll(x, shifts=(sd, sh, sw), dims=(1, 2, 3))  # (B, D, H, W, C)


def _axis_regions(length: int, window: int, shift: int) -> torch.Tensor:
    """Region label (0, 1 or 2) of every position of one axis of the rolled grid."""
    ids = torch.zeros(length, dtype=torch.long)
    if shift > 0:
        ids[length - window : length - shift] = 1  # the last regular window, before the wrap
        ids[length - shift :] = 2  # the piece wrapped round from the start of the axis
    return ids


def region_ids(dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]) -> torch.Tensor:
    """Label every token of the *rolled*, padded grid with its region, ``LongTensor (D, H, W)``.

    Tokens of one window may attend to each other iff they have the same label.  The label is
    ``9 * r_d + 3 * r_h + r_w`` with one slice index ``r`` in {0, 1, 2} per axis (up to 27 labels,
    the same ones as the ``count`` loop of the official code).  An axis with shift 0 has one slice.
    """
    D, H, W = triple(tuple(dhw), "dhw")
    window = triple(window_size, "window_size")
    shift = shift_triple(shift_size)
    for name, n, w, s in zip("DHW", (D, H, W), window, shift, strict=True):
        if s >= w:
            raise ValueError(f"shift_size on axis {name} must be smaller than the window ({w}), got {s}")
        if w > n:
            raise ValueError(
                f"window_size on axis {name} ({w}) is larger than the grid ({n}); "
                "use vswin_edu.windows.effective_window first"
            )
    rd, rh, rw = (_axis_regions(n, w, s) for n, w, s in zip((D, H, W), window, shift, strict=True))
    return 9 * rd[:, None, None] + 3 * rh[None, :, None] + rw[None, None, :]  # (D, H, W)


def shifted_window_allowed(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """Boolean mask ``(nW, N, N)``: True where query token i of a window may attend to key j.

    The mask is symmetric (``allowed[w, i, j] == allowed[w, j, i]``) and, for a window with no
    wrapped piece, all True.  ``dhw`` is the *padded* grid (a multiple of the window).
    """
    window = triple(window_size, "window_size")
    _check_divisible(tuple(dhw), window, "the padded grid dhw")
    ids = region_ids(dhw, window, shift_size)  # (D, H, W)
    ids = window_partition(ids[None, ..., None], window)[..., 0]  # (nW, N)
    return ids[:, :, None] == ids[:, None, :]  # (nW, N, N)


def shifted_window_mask(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """Additive attention mask ``(nW, N, N)``: 0.0 where two tokens may attend, -100.0 where not.

    Added to the logits ``QK^T/sqrt(d) + B`` of every head and every clip of the batch (broadcast
    over B and nH).  Same values and layout as the official code and torchvision.
    """
    allowed = shifted_window_allowed(dhw, window_size, shift_size)
    return additive_mask(allowed)


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Turn a boolean "may attend" mask into additive logits (0 / ``MASKED_LOGIT``)."""
    zero = torch.zeros((), dtype=dtype)
    return torch.where(allowed, zero, torch.tensor(MASKED_LOGIT, dtype=dtype))


@lru_cache(maxsize=128)
def cached_shifted_window_mask(
    dhw: tuple[int, int, int],
    window_size: tuple[int, int, int],
    shift_size: tuple[int, int, int],
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """:func:`shifted_window_mask` built once per (padded grid, window, shift, device, dtype).

    The mask depends only on these five things, never on the data, so the model builds it once and
    reuses the same tensor on every forward (torchvision rebuilds it every time).  The returned
    tensor is shared: treat it as read-only.
    """
    with torch.inference_mode(False):  # a mask first built under inference_mode still serves training
        return shifted_window_mask(dhw, window_size, shift_size).to(device=device, dtype=dtype)


class WindowGroups(NamedTuple):
    """The windows of a grid grouped by their mask pattern (see :func:`shifted_window_groups`)."""

    windows: tuple[torch.Tensor, ...]  # per group, LongTensor (g,): the windows with this pattern
    masks: torch.Tensor  # (G, N, N): the additive mask pattern shared by each group
    num_windows: int  # nW, all groups together
    order: torch.Tensor  # (nW,): the windows group after group, torch.cat(windows)
    inverse: torch.Tensor  # (nW,): order.argsort(), back to the windows' own order
    sizes: tuple[int, ...]  # windows per group
    in_order: bool  # the windows already come group after group (order is 0, 1, ..., nW-1)


def make_window_groups(
    windows: Sequence[Sequence[int]], masks: torch.Tensor, num_windows: int
) -> WindowGroups:
    """:class:`WindowGroups` from the window numbers of each group and their patterns ``(G, N, N)``.

    Plain ints in, so that nothing here depends on tensor values (``torch.compile`` traces it).
    """
    order = [w for members in windows for w in members]
    in_order = order == list(range(len(order)))
    order_t = torch.tensor(order, dtype=torch.long)
    return WindowGroups(
        windows=tuple(torch.tensor(members, dtype=torch.long) for members in windows),
        masks=masks,
        num_windows=num_windows,
        order=order_t,
        inverse=order_t.argsort(),
        sizes=tuple(len(members) for members in windows),
        in_order=in_order,
    )


def sorted_by_pattern(groups: WindowGroups) -> WindowGroups:
    """The same groups for windows that were sorted by ``groups.order``: each group one run of windows.

    The block sorts its windows this way while it gathers them (:func:`vswin_edu.block.token_order`),
    so that attention takes every group as one slice, with no reordering of its own.
    """
    starts = itertools.accumulate(groups.sizes[:-1], initial=0)
    windows = [range(start, start + size) for start, size in zip(starts, groups.sizes, strict=True)]
    return make_window_groups(windows, groups.masks, groups.num_windows)


def shifted_window_groups(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> WindowGroups:
    """Group the windows of a shifted grid by their mask pattern — at most ``2^3 = 8`` groups.

    Only the *last* window along a shifted axis meets a wrapped piece (regions 1 and 2 of that
    axis); every other window lies inside region 0.  So the pattern of a window depends only on
    whether it is last along each shifted axis, and most windows (the interior ones) share the
    all-zero pattern.  Examples with window ``(2, 4, 4)`` and shift ``(1, 2, 2)``: ``(4, 8, 8)``
    tokens give 8 windows in 8 groups of one; ``(4, 12, 12)`` give 18 windows in 8 groups, the
    largest holding the 4 windows that are last along no axis.  Swin-T's first shifted block at
    32x224x224 has 128 windows in groups of 49, 49, 7, 7, 7, 7, 1, 1.  Attention can then add one
    small ``(nH, N, N)`` mask per group instead of a ``(nW, nH, N, N)`` one.
    """
    window, shift = triple(window_size, "window_size"), shift_triple(shift_size)
    mask = shifted_window_mask(dhw, window, shift)  # (nW, N, N); also checks the arguments
    counts = [n // w for n, w in zip(dhw, window, strict=True)]  # windows along D, H, W
    groups: dict[tuple[bool, ...], list[int]] = {}
    for i, position in enumerate(itertools.product(*(range(n) for n in counts))):  # raster order
        last = tuple(s > 0 and p == n - 1 for p, n, s in zip(position, counts, shift, strict=True))
        groups.setdefault(last, []).append(i)
    first = [members[0] for members in groups.values()]
    return make_window_groups(list(groups.values()), mask[first], mask.shape[0])  # masks (G, N, N)


def group_windows_by_mask(mask: torch.Tensor) -> WindowGroups:
    """Group the windows of *any* additive mask ``(nW, N, N)`` by identical ``(N, N)`` pattern.

    For masks that do not come from :func:`shifted_window_mask` (e.g. the padding mask of
    :func:`vswin_edu.reference.naive_shifted_window_attention`).  It looks at the values, so under
    ``torch.compile`` it breaks the graph; the block uses :func:`cached_window_groups` instead.
    """
    if mask.dim() != 3 or mask.shape[1] != mask.shape[2]:
        raise ValueError(f"mask must have shape (nW, N, N), got {tuple(mask.shape)}")
    nW, N, _ = mask.shape
    patterns, which = torch.unique(mask.reshape(nW, N * N), dim=0, return_inverse=True)  # (G, N*N), (nW,)
    windows = [(which == g).nonzero().flatten().tolist() for g in range(patterns.shape[0])]
    return make_window_groups(windows, patterns.view(-1, N, N), nW)


@lru_cache(maxsize=128)
def cached_window_groups(
    dhw: tuple[int, int, int],
    window_size: tuple[int, int, int],
    shift_size: tuple[int, int, int],
    device: torch.device,
    dtype: torch.dtype,
    sorted_windows: bool = False,
) -> WindowGroups:
    """:func:`shifted_window_groups` built once per (padded grid, window, shift, device, dtype);
    with ``sorted_windows``, for windows already sorted by pattern (:func:`sorted_by_pattern`)."""
    with torch.inference_mode(False):  # like the mask: usable by inference and training alike
        groups = shifted_window_groups(dhw, window_size, shift_size)
        if sorted_windows:
            groups = sorted_by_pattern(groups)
        return groups._replace(
            windows=tuple(w.to(device) for w in groups.windows),
            masks=groups.masks.to(device=device, dtype=dtype),
            order=groups.order.to(device),
            inverse=groups.inverse.to(device),
        )
