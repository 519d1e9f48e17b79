"""Window multi-head self-attention, W-MSA and SW-MSA (paper Sec. 3.2, Eq. 1; chapter 7).

Inside each 3D window of ``N`` tokens, every head computes

    Attention(Q, K, V) = SoftMax(Q K^T / sqrt(d) + B) V,

with ``B`` the 3D relative position bias (:mod:`vswin_edu.relpos`).  In a shifted block an extra
additive mask (:mod:`vswin_edu.shift`) keeps wrapped-round pieces of a window apart.

Two paths compute the same thing:

* the **explicit** path writes out ``QK^T``, the softmax and ``@ V`` — it can return the
  attention weights for plots (``return_attn=True``);
* the **fused** path calls :func:`torch.nn.functional.scaled_dot_product_attention` with
  ``B + mask`` as its additive float mask.  It never stores the ``(N, N)`` probabilities in
  memory: it streams blocks of keys through the cache, which is several times faster on CPU and
  GPU (appendix notebook 13), and it is the default.

Two details keep the fused path fast.  A shifted grid has at most ``2^3 = 8`` distinct mask
patterns (most windows have none), so windows are attended *in groups that share a pattern*
(:func:`vswin_edu.shift.group_windows_by_mask`) with one small ``(1, nH, N, N)`` mask each, instead
of one ``(nW, nH, N, N)`` mask per forward.  And on CPU the fast kernel refuses a mask that needs a
gradient (the learned bias does, in training); :class:`FusedAttentionFunction` runs the fast
kernel forward and writes out the backward pass itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.autograd.function import once_differentiable

from ._checks import triple
from .relpos import RelativePositionBias3D
from .shift import WindowGroups, group_windows_by_mask


def combine_bias_and_mask(
    bias: torch.Tensor, mask: torch.Tensor | None, num_windows_total: int
) -> torch.Tensor:
    """Additive logits for every window: ``(1, nH, N, N)`` or, with a mask, ``(1, nW*nH, N, N)``.

    ``bias`` ``(nH, N, N)`` is shared by all windows; ``mask`` ``(nW, N, N)`` is shared by all clips
    and heads.  Their sum is built by broadcasting (never per clip of the batch).  The fused path
    calls it with the single mask pattern of a group of windows (``nW = 1``).
    """
    if mask is None:
        return bias.unsqueeze(0)  # (1, nH, N, N)
    nW, N, _ = mask.shape
    if num_windows_total % nW:
        raise ValueError(
            f"mask has nW={nW} windows but the input has {num_windows_total} windows, "
            "which is not a multiple (B * nW)"
        )
    both = bias.unsqueeze(0) + mask.unsqueeze(1)  # (nW, nH, N, N)
    return both.reshape(1, -1, N, N)  # (1, nW*nH, N, N)


# FusedAttentionFunction's backward works through the windows in chunks whose (nH, N, N) matrices
# take about this much memory, so they stay in the cache (Swin-T stage 1: 3 heads x 392^2 floats
# = 1.8 MB per window, so two windows a chunk).
BACKWARD_CHUNK_BYTES = 4 * 2**20


class FusedAttentionFunction(torch.autograd.Function):
    """``SoftMax(scale * Q K^T + M) V`` by PyTorch's fused CPU kernel, with a gradient for ``M`` too.

    ``F.scaled_dot_product_attention`` on CPU falls back to its slow "math" path when the float mask
    ``M`` requires grad.  Here the forward runs the fused kernel, which also returns the log-sum-exp
    ``L`` of every row, and the backward recomputes the probabilities ``P = exp(S - L)`` from
    ``S = scale * Q K^T + M`` and applies the softmax chain rule (exact, not an approximation):

        dV = P^T dO,   dS = P * (dO V^T - rowsum(dO * O)),   dQ = scale dS K,   dK = scale dS^T Q,

    and ``dM`` is ``dS`` summed over the axes along which ``M`` was broadcast.

    Shapes: ``q, k, v`` ``(b, nH, N, d)``; ``mask`` broadcastable to ``(b, nH, N, N)``.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, scale: float):
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, attn_mask=mask, scale=scale
        )  # (b, nH, N, d), (b, nH, N)
        ctx.save_for_backward(q, k, v, mask, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        q, k, v, mask, out, lse = ctx.saved_tensors
        dtype = q.dtype
        work = torch.promote_types(dtype, torch.float32)  # a bf16/fp16 backward runs in fp32
        q, k, v, out, grad_out = (t.to(work) for t in (q, k, v, out, grad_out))
        b, nH, N, _ = q.shape
        lse = lse.to(work).unsqueeze(-1)  # (b, nH, N, 1)
        mask4 = mask.to(work).reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))  # (b or 1, nH or 1, N, N)
        grad_q, grad_k, grad_v = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        grad_mask = torch.zeros_like(mask4) if ctx.needs_input_grad[3] else None
        row = (grad_out * out).sum(-1, keepdim=True)  # (b, nH, N, 1)
        # floor of P: sqrt of the smallest normal number (fp32: exp(-43.7) = 1.1e-19); why: in the loop
        min_exponent = 0.5 * math.log(torch.finfo(work).tiny)
        # a few windows at a time: the (N, N) matrices of one chunk stay in the cache instead of
        # streaming through main memory (about 1.5x faster on CPU than all windows at once)
        per_chunk = max(1, BACKWARD_CHUNK_BYTES // (nH * N * N * q.element_size()))
        for start in range(0, b, per_chunk):
            c = slice(start, start + per_chunk)
            m = mask4 if mask4.shape[0] == 1 else mask4[c]
            q_scaled = q[c] * ctx.scale
            # P = exp(S - L) with S = scale Q K^T + M, recomputed, in place; masked logits (-100)
            # would make exp() return subnormal numbers, which x86 CPUs compute 20-60x slower, and so
            # would the products P * (dO V^T - rowsum) and the matmuls that read them.  Flooring P at
            # sqrt(tiny) keeps all of them normal; it changes only probabilities below 1e-19, zero to
            # working precision
            s = (q_scaled @ k[c].transpose(-2, -1)).add_(m).sub_(lse[c])  # (c, nH, N, N)
            p = s.clamp_min_(min_exponent).exp_()
            torch.matmul(p.transpose(-2, -1), grad_out[c], out=grad_v[c])  # (c, nH, N, d)
            grad_s = (grad_out[c] @ v[c].transpose(-2, -1)).sub_(row[c]).mul_(p)  # gradient of S
            torch.matmul(grad_s, k[c], out=grad_q[c]).mul_(ctx.scale)
            torch.matmul(grad_s.transpose(-2, -1), q_scaled, out=grad_k[c])
            if grad_mask is not None:
                g = grad_mask if mask4.shape[0] == 1 else grad_mask[c]
                g += grad_s.sum_to_size(g.shape)  # summed over the axes M was broadcast along
        if grad_mask is not None:
            grad_mask = grad_mask.view(mask.shape).to(mask.dtype)
        return grad_q.to(dtype), grad_k.to(dtype), grad_v.to(dtype), grad_mask, None


def fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor, dropout_p: float, scale: float
) -> torch.Tensor:
    """``SoftMax(scale * QK^T + attn_mask) V`` through the fastest exact kernel, ``(b, nH, N, d)``.

    On CPU, when the mask needs a gradient (training the bias), :class:`FusedAttentionFunction`;
    otherwise :func:`F.scaled_dot_product_attention` (on CUDA its kernels handle mask gradients,
    and under ``torch.compile`` the compiler picks the kernel).
    """
    if (
        q.device.type == "cpu"
        and attn_mask.requires_grad
        and torch.is_grad_enabled()
        and dropout_p == 0.0
        and not torch.compiler.is_compiling()
    ):
        return FusedAttentionFunction.apply(q, k, v, attn_mask, scale)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, scale=scale)


class WindowAttention3D(nn.Module):
    """Multi-head self-attention inside 3D windows with a relative position bias.

    Args:
        dim: channels ``C`` of a token.
        window_size: ``(P, M, M)``; sets the size of the bias table.
        num_heads: ``nH``; ``dim`` must be divisible by it (head dim ``d = C / nH``).
        qkv_bias: learn a bias for the Q, K, V projections (the paper does).
        attn_drop: dropout on the attention weights; proj_drop: dropout after the output projection.

    Shapes: ``x`` ``(B*nW, N, C)``; ``mask`` ``(nW, N, N)`` additive (0 / -100) or None.
    """

    def __init__(
        self,
        dim: int,
        window_size: Sequence[int],
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(f"num_heads must be a positive int, got {num_heads!r}")
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.dim = dim
        self.window_size = triple(window_size, "window_size")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.relpos = RelativePositionBias3D(self.window_size, num_heads)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        return_attn: bool = False,
        *,
        window_size: Sequence[int] | None = None,
        mask_groups: WindowGroups | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend inside each window.

        Args:
            x: windows ``(B*nW, N, C)``.
            mask: additive ``(nW, N, N)`` shifted-window mask, or None for regular windows.
            return_attn: also return the attention weights ``(B*nW, nH, N, N)`` (explicit path).
            window_size: the effective window of these windows if it is smaller than
                ``self.window_size`` (the bias is then indexed for it, see :mod:`vswin_edu.relpos`).
            mask_groups: the shifted-window mask as groups of windows that share a pattern
                (:func:`vswin_edu.shift.cached_window_groups`), with or instead of ``mask``; the
                fused path then need not group ``mask`` itself.

        Returns:
            ``(B*nW, N, C)``, and the weights when ``return_attn`` is True.
        """
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (B*nW, N, C={self.dim}), got {tuple(x.shape)}")
        Bw, N, _ = x.shape
        bias = self.relpos(window_size)  # (nH, N', N')
        if bias.shape[-1] != N:
            raise ValueError(
                f"x has N={N} tokens per window but the window {window_size or self.window_size} "
                f"has {bias.shape[-1]}; pass the effective window as window_size"
            )
        if mask is not None and mask.shape[-2:] != (N, N):
            raise ValueError(f"mask must have shape (nW, {N}, {N}), got {tuple(mask.shape)}")
        if mask_groups is not None and mask_groups.masks.shape[-2:] != (N, N):
            raise ValueError(f"mask_groups hold ({N}, {N}) patterns, got {tuple(mask_groups.masks.shape)}")
        p_drop = self.attn_drop if self.training else 0.0
        if return_attn:
            if mask is None and mask_groups is not None:
                raise ValueError("return_attn needs the whole (nW, N, N) mask, got only mask_groups")
            out, attn = self._explicit(x, bias, mask, p_drop)
            return self.proj_drop(self.proj(out)), attn
        if mask is None and mask_groups is None:
            return self._fused(x, bias.unsqueeze(0), p_drop)  # (1, nH, N, N) bias for every window
        groups = mask_groups if mask_groups is not None else group_windows_by_mask(mask)
        return self._fused_grouped(x, bias, groups, p_drop)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of windows ``(b, N, C)``: three views ``(b, nH, N, d)``, no copies."""
        b, N, _ = x.shape
        qkv = self.qkv(x).view(b, N, 3, self.num_heads, self.head_dim)  # (b, N, 3, nH, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (b, nH, N, d)
        return q, k, v

    def _explicit(self, x, bias, mask, p_drop):
        """SoftMax(QK^T/sqrt(d) + B [+ mask]) V, written out; also returns the weights."""
        q, k, v = self._qkv(x)
        Bw, nH, N, _ = q.shape
        logits = (q * self.scale) @ k.transpose(-2, -1)  # (B*nW, nH, N, N)
        logits = logits + bias.unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            if Bw % nW:
                raise ValueError(f"mask has nW={nW} windows; {Bw} windows is not a multiple")
            logits = logits.view(Bw // nW, nW, nH, N, N) + mask[None, :, None]  # (B, nW, nH, N, N)
            logits = logits.view(Bw, nH, N, N)
        # softmax in fp32 even under fp16 autocast: exp() of fp16 logits overflows (a known NaN source)
        attn = logits.softmax(dim=-1, dtype=torch.promote_types(logits.dtype, torch.float32)).to(v.dtype)
        out = F.dropout(attn, p_drop) @ v  # (B*nW, nH, N, d)
        return rearrange(out, "b h n d -> b n (h d)"), attn  # (B*nW, N, C), (B*nW, nH, N, N)

    def _fused(self, x: torch.Tensor, attn_mask: torch.Tensor, p_drop: float) -> torch.Tensor:
        """Windows ``(b, N, C)`` attended with one additive mask ``(1, nH, N, N)`` -> ``(b, N, C)``."""
        b, N, C = x.shape
        q, k, v = self._qkv(x)
        out = fused_attention(q, k, v, attn_mask.to(q.dtype), p_drop, self.scale)  # (b, nH, N, d)
        out = out.transpose(1, 2).reshape(b, N, C)  # (b, N, C); the CPU kernel makes this a view
        return self.proj_drop(self.proj(out))

    def _fused_grouped(self, x, bias, groups: WindowGroups, p_drop):
        """Shifted windows, one fused call per mask pattern (<= 8), each with a ``(1, nH, N, N)`` mask.

        The windows are sorted by pattern first, so one projection gives the Q, K, V of every group.
        """
        Bw, N, C = x.shape
        nW = groups.num_windows
        if Bw % nW:
            raise ValueError(f"mask has nW={nW} windows; {Bw} windows is not a multiple")
        B = Bw // nW
        x = x.view(B, nW, N, C)
        if not groups.in_order:
            x = x.index_select(1, groups.order)  # (B, nW, N, C) sorted by pattern
        q, k, v = (t.view(B, nW, self.num_heads, N, self.head_dim) for t in self._qkv(x.view(Bw, N, C)))
        per_group = zip(*(t.split(groups.sizes, dim=1) for t in (q, k, v)), groups.masks, strict=True)
        outs = []
        for q_g, k_g, v_g, pattern in per_group:  # q_g (B, g, nH, N, d), pattern (N, N)
            attn_mask = combine_bias_and_mask(bias, pattern[None], nW).to(q.dtype)  # (1, nH, N, N)
            out = fused_attention(*(t.flatten(0, 1) for t in (q_g, k_g, v_g)), attn_mask, p_drop, self.scale)
            outs.append(out.view(q_g.shape))  # (B, g, nH, N, d)
        out = torch.cat(outs, dim=1).transpose(2, 3).reshape(B, nW, N, C)  # (B, nW, N, C), sorted
        out = self.proj_drop(self.proj(out))
        if not groups.in_order:
            out = out.index_select(1, groups.inverse)  # (B, nW, N, C) in the order of x
        return out.view(Bw, N, C)  # (B*nW, N, C)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}"
