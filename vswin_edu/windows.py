"""3D window partition and reverse (paper Sec. 3.2, "3D shifted window based MSA"; chapter 3).

A token grid ``(B, D, H, W, C)`` is cut into non-overlapping ``P x M x M`` windows and each
window becomes a short sequence of ``N = P*M*M`` tokens, so self-attention costs ``O(N)`` per
token instead of ``O(D*H*W)``.  The grid is zero-padded up to a multiple of the window first
(:func:`pad_to_window`), and a window that is larger than the grid shrinks to the grid
(:func:`effective_window`).

Worked example (``D, H, W = 2, 2, 4``, window ``(1, 2, 2)``): windows are numbered in raster
order over the *window grid* ``(D/P, H/M, W/M) = (2, 1, 2)``, and inside a window the tokens are
in raster order ``(d, h, w)`` as well — the same order as torchvision and the official code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange

from ._checks import check_shift, check_tokens, shift_triple, triple

Size3 = tuple[int, int, int]


def effective_window(
    input_dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> tuple[Size3, Size3]:
    """Clamp a window to a small input: the window and shift a block actually uses.

    Per axis, if the input is no larger than the window (``input <= window``) the window becomes
    the whole axis and the shift on that axis becomes 0 — shifting a single window would only
    wrap tokens onto themselves.  Same rule as torchvision's ``_get_window_and_shift_size`` and
    the official ``get_window_size``.

    Example: Swin-T at 32x224x224 has a ``16 x 7 x 7`` token grid in stage 4; with window
    ``(8, 7, 7)`` and shift ``(4, 3, 3)`` the effective window is ``(8, 7, 7)`` and the shift
    ``(4, 0, 0)``.

    Returns:
        ``(window, shift)`` as two tuples of three ints.
    """
    dhw = triple(tuple(input_dhw), "input_dhw")
    window = triple(window_size, "window_size")
    shift = shift_triple(shift_size)
    check_shift(window, shift)
    eff_window = tuple(min(n, w) for n, w in zip(dhw, window, strict=True))
    eff_shift = tuple(0 if n <= w else s for n, w, s in zip(dhw, window, shift, strict=True))
    return eff_window, eff_shift  # type: ignore[return-value]


def pad_sizes(dhw: Sequence[int], window_size: Sequence[int]) -> Size3:
    """How many zeros each axis needs so that it becomes a multiple of the window."""
    return tuple((-n) % w for n, w in zip(dhw, window_size, strict=True))  # type: ignore[return-value]


def pad_to_window(x: torch.Tensor, window_size: Sequence[int]) -> torch.Tensor:
    """Zero-pad a token grid ``(B, D, H, W, C)`` at the end of D, H and W to window multiples.

    The padded tokens are *not* masked in the official code or torchvision: they take part in
    attention as keys and values.  Their features are zero (the padding comes after ``norm1``), so
    with ``qkv_bias`` their key is the bias ``b_k`` and their value ``b_v`` — not zero: a query gives
    them the logit ``q . b_k / sqrt(d)`` plus the relative position bias (chapter 7).  We keep that
    behaviour so that the same weights give the same outputs.
    """
    check_tokens(x)
    pd, ph, pw = pad_sizes(x.shape[1:4], window_size)
    if pd == ph == pw == 0:
        return x
    return F.pad(x, (0, 0, 0, pw, 0, ph, 0, pd))  # (B, D+pd, H+ph, W+pw, C)


def _check_divisible(dhw: Sequence[int], window: Size3, name: str) -> None:
    if any(n % w for n, w in zip(dhw, window, strict=True)):
        raise ValueError(
            f"{name} {tuple(dhw)} must be a multiple of window_size {window} on every axis; "
            "pad it first with vswin_edu.windows.pad_to_window"
        )


def window_partition(x: torch.Tensor, window_size: int | Sequence[int]) -> torch.Tensor:
    """Cut a token grid into non-overlapping 3D windows.

    Args:
        x: ``(B, D, H, W, C)`` with ``D, H, W`` multiples of the window.
        window_size: ``(P, M, M)``.

    Returns:
        ``(B * nW, N, C)`` with ``nW = (D/P)(H/M)(W/M)`` windows in raster order and
        ``N = P*M*M`` tokens per window in raster order.
    """
    check_tokens(x)
    wd, wh, ww = triple(window_size, "window_size")
    _check_divisible(x.shape[1:4], (wd, wh, ww), "the token grid (D, H, W)")
    return rearrange(
        x,
        "b (nd wd) (nh wh) (nw ww) c -> (b nd nh nw) (wd wh ww) c",
        wd=wd,
        wh=wh,
        ww=ww,
    )  # (B*nW, N, C)


def window_reverse(
    windows: torch.Tensor, window_size: int | Sequence[int], B: int, D: int, H: int, W: int
) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B*nW, N, C)`` back to ``(B, D, H, W, C)``."""
    wd, wh, ww = triple(window_size, "window_size")
    _check_divisible((D, H, W), (wd, wh, ww), "(D, H, W)")
    if windows.dim() != 3:
        raise ValueError(
            f"windows must have shape (B*nW, N, C) with 3 dims, got shape {tuple(windows.shape)}"
        )
    n_windows = B * (D // wd) * (H // wh) * (W // ww)
    if windows.shape[0] != n_windows or windows.shape[1] != wd * wh * ww:
        raise ValueError(
            f"windows must have shape (B*nW, N, C) = ({n_windows}, {wd * wh * ww}, C) for "
            f"B={B}, (D, H, W)={(D, H, W)}, window_size={(wd, wh, ww)}; got {tuple(windows.shape)}"
        )
    return rearrange(
        windows,
        "(b nd nh nw) (wd wh ww) c -> b (nd wd) (nh wh) (nw ww) c",
        b=B,
        nd=D // wd,
        nh=H // wh,
        nw=W // ww,
        wd=wd,
        wh=wh,
        ww=ww,
    )  # (B, D, H, W, C)


def num_windows(dhw: Sequence[int], window_size: Sequence[int]) -> int:
    """Number of windows ``ceil(D/P) * ceil(H/M) * ceil(W/M)`` after padding to multiples."""
    n = 1
    for size, w in zip(dhw, window_size, strict=True):
        n *= -(-size // w)
    return n


def window_coords(window_size: Sequence[int]) -> torch.Tensor:
    """Coordinates ``(d, h, w)`` of the N tokens of a window in raster order, ``LongTensor (N, 3)``."""
    wd, wh, ww = triple(window_size, "window_size")
    grids = torch.meshgrid(torch.arange(wd), torch.arange(wh), torch.arange(ww), indexing="ij")
    return torch.stack(grids, dim=-1).reshape(-1, 3)  # (N, 3)
