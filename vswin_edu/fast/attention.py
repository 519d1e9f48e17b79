"""(S)W-MSA by the fast route: the twin of :func:`vswin_edu.block.shifted_window_attention`.

Same steps, same numbers (a test holds them equal, forward and gradients), three changes:

* pad -> shift -> partition is one gather of a cached permutation, and reverse -> unshift -> unpad
  its inverse (:mod:`.gather`);
* the windows come sorted by mask pattern, and each group of windows is attended with one small
  ``(1, nH, N, N)`` mask (bias + its pattern) instead of a ``(nW, nH, N, N)`` mask built every
  forward (:mod:`.groups`);
* attention runs in the fused kernel, in training too (:mod:`.kernels`), and the bias is gathered
  head-major through a cached index.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..attention import WindowAttention3D
from ..relpos import RelativePositionBias3D
from ..windows import Size3, pad_to_window
from .gather import token_order, window_plan
from .groups import WindowGroups, cached_relative_position_index, cached_window_groups
from .kernels import fused_attention


def relative_position_bias(relpos: RelativePositionBias3D, window: Size3) -> torch.Tensor:
    """``relpos(window)``, ``(nH, N, N)``, with the index of a shrunken window cached.

    Gathered head by head from the transposed table, so the bias comes out contiguous and its
    backward (a scatter-add into the table) is fast too.
    """
    table = relpos.relative_position_bias_table  # (rows, nH)
    if window == relpos.window_size:
        index = relpos.relative_position_index
    else:
        index = cached_relative_position_index(window, relpos.window_size, table.device)
    N = index.shape[0]
    return table.t().index_select(1, index.reshape(-1)).view(relpos.num_heads, N, N)  # (nH, N, N)


def project_heads(attn: WindowAttention3D, out: torch.Tensor) -> torch.Tensor:
    """:meth:`WindowAttention3D.project` of the heads ``(b, nH, N, d) -> (b, N, C)``, export-safe.

    Eager and compiled it *is* ``attn.project``.  While ``torch.export`` traces (ONNX export,
    :mod:`vswin_edu.export`), the head merge and the output projection become one einsum over the
    heads: torch.onnx's decomposition cannot view the transposed attention output as ``(b, N, C)``.
    Same numbers (``W`` viewed as ``(C, nH, d)``, summed over ``nH`` and ``d``).
    """
    if not torch.compiler.is_exporting():
        return attn.project(out)
    _, nH, _, d = out.shape
    weight = attn.proj.weight.view(-1, nH, d)  # (C, nH, d): output channel c reads head h, dim j
    merged = torch.einsum("bhnd,chd->bnc", out, weight) + attn.proj.bias  # (b, N, C)
    return attn.proj_drop(merged)


def grouped_window_attention(
    attn: WindowAttention3D, windows: torch.Tensor, bias: torch.Tensor, groups: WindowGroups | None
) -> torch.Tensor:
    """``attn(windows, mask)`` for windows ``(B*nW, N, C)`` sorted by mask pattern -> ``(B*nW, N, C)``.

    Without ``groups`` (regular windows) every window shares the bias ``(nH, N, N)``: one fused call.
    With them, one fused call per group (<= 8) with that group's ``bias + pattern``; one projection
    gives the Q, K, V of all groups.
    """
    q, k, v = attn.qkv_heads(windows)  # each (B*nW, nH, N, d)
    p_drop = attn.attn_drop if attn.training else 0.0
    if groups is None:
        out = fused_attention(q, k, v, bias[None].to(q.dtype), p_drop, attn.scale)  # (B*nW, nH, N, d)
        return project_heads(attn, out)
    Bw, nH, N, d = q.shape
    nW = len(groups.order)
    q, k, v = (t.view(Bw // nW, nW, nH, N, d) for t in (q, k, v))  # (B, nW, nH, N, d)
    per_group = zip(*(t.split(groups.sizes, dim=1) for t in (q, k, v)), groups.masks, strict=True)
    outs = []
    for q_g, k_g, v_g, pattern in per_group:  # q_g (B, g, nH, N, d), pattern (N, N)
        attn_mask = (bias + pattern)[None].to(q.dtype)  # (1, nH, N, N)
        out = fused_attention(*(t.flatten(0, 1) for t in (q_g, k_g, v_g)), attn_mask, p_drop, attn.scale)
        outs.append(out.view(q_g.shape))  # (B, g, nH, N, d)
    return project_heads(attn, torch.cat(outs, dim=1).view(Bw, nH, N, d))  # (B*nW, N, C)


def shifted_window_attention(
    x: torch.Tensor, attn: WindowAttention3D, window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """(S)W-MSA on a normalised grid ``(B, D, H, W, C)`` — equals the readable
    :func:`vswin_edu.block.shifted_window_attention` (without ``return_attn``)."""
    B, D, H, W, C = x.shape
    window, shift = window_plan((D, H, W), tuple(window_size), tuple(shift_size))
    x = pad_to_window(x, window)  # (B, Dp, Hp, Wp, C)
    padded = (x.shape[1], x.shape[2], x.shape[3])
    N = window[0] * window[1] * window[2]
    order, inverse = token_order(padded, window, shift, x.device)
    # pad -> shift -> partition (windows sorted by mask pattern), in one gather
    windows = x.flatten(1, 3).index_select(1, order).view(-1, N, C)  # (B*nW, N, C)
    groups = cached_window_groups(padded, window, shift, x.device, x.dtype) if any(shift) else None
    out = grouped_window_attention(attn, windows, relative_position_bias(attn.relpos, window), groups)
    # reverse -> unshift, in one gather; then unpad
    x = out.view(B, -1, C).index_select(1, inverse).view(B, *padded, C)  # (B, Dp, Hp, Wp, C)
    return x[:, :D, :H, :W, :]  # (B, D, H, W, C)
