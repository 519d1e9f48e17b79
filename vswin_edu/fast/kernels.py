"""Fused attention on CPU with a gradient for the additive mask (replaces autograd through
``F.scaled_dot_product_attention``'s math fallback in training).

``F.scaled_dot_product_attention`` on CPU uses its fast (flash) kernel with a float mask only if
the mask does not require grad.  The learned relative-position bias is part of that mask, so in
training the readable path silently falls back to the slow "math" kernel, which writes out the
``(N, N)`` probabilities and keeps them for backward.  :class:`FusedAttentionFunction` runs the
fast kernel forward and writes the backward pass out itself (exact: the softmax chain rule), and
:func:`fused_attention` picks it where it helps.  Appendix 14 measures the difference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

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
