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

from collections.abc import Sequence

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
    _check_shift_fits(x, (sd, sh, sw))
    return torch.roll(x, shifts=(-sd, -sh, -sw), dims=(1, 2, 3))  # (B, D, H, W, C)


def reverse_cyclic_shift(x: torch.Tensor, shift: Sequence[int]) -> torch.Tensor:
    """Undo :func:`cyclic_shift`: roll by ``+shift`` on (D, H, W)."""
    check_tokens(x)
    sd, sh, sw = shift_triple(shift, "shift")
    if sd == sh == sw == 0:
        return x
    _check_shift_fits(x, (sd, sh, sw))
    return torch.roll(x, shifts=(sd, sh, sw), dims=(1, 2, 3))  # (B, D, H, W, C)


def _check_shift_fits(x: torch.Tensor, shift: tuple[int, int, int]) -> None:
    """A shift must be smaller than the grid on every shifted axis: ``torch.roll`` would silently
    take it modulo the length, and a block never shifts by a whole axis (:func:`effective_window`
    sets the shift of an axis no longer than the window to 0)."""
    for axis, n, s in zip("DHW", x.shape[1:4], shift, strict=True):
        if s and s >= n:
            raise ValueError(
                f"shift on axis {axis} ({s}) must be smaller than the grid ({n}), got shift {shift} for "
                f"the grid {tuple(x.shape[1:4])}; vswin_edu.windows.effective_window gives the shift a "
                "block uses"
            )


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
    # the three slices per axis are laid out for a grid of whole windows
    _check_divisible((D, H, W), window, "the padded grid dhw")
    rd, rh, rw = (_axis_regions(n, w, s) for n, w, s in zip((D, H, W), window, shift, strict=True))
    return 9 * rd[:, None, None] + 3 * rh[None, :, None] + rw[None, None, :]  # (D, H, W)


def window_region_ids(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """The region (:func:`region_ids`) of every token of every rolled window, ``LongTensor (nW, N)``."""
    window = triple(window_size, "window_size")
    _check_divisible(tuple(dhw), window, "the padded grid dhw")
    ids = region_ids(dhw, window, shift_size)  # (D, H, W)
    return window_partition(ids[None, ..., None], window)[..., 0]  # (nW, N)


def shifted_window_allowed(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """Boolean mask ``(nW, N, N)``: True where query token i of a window may attend to key j.

    The mask is symmetric (``allowed[w, i, j] == allowed[w, j, i]``) and, for a window with no
    wrapped piece, all True.  ``dhw`` is the *padded* grid (a multiple of the window).
    """
    ids = window_region_ids(dhw, window_size, shift_size)  # (nW, N)
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
