"""Window multi-head self-attention, W-MSA and SW-MSA (paper Sec. 3.2, Eq. 1; chapter 7).

Inside each 3D window of ``N`` tokens, every head computes

    Attention(Q, K, V) = SoftMax(Q K^T / sqrt(d) + B) V,

with ``B`` the 3D relative position bias (:mod:`vswin_edu.relpos`).  In a shifted block an extra
additive mask (:mod:`vswin_edu.shift`) keeps wrapped-round pieces of a window apart: it is added
to the logits exactly like ``B``, so the two are summed into one additive term first
(:func:`logit_bias`).

Two paths compute the same thing:

* the **explicit** path (:func:`explicit_attention`) writes out ``QK^T``, the softmax and ``@ V`` —
  it can return the attention weights for plots (``return_attn=True``);
* the **fused** path (:func:`sdpa_attention`) hands ``B + mask`` to
  :func:`torch.nn.functional.scaled_dot_product_attention`, which never stores the ``(N, N)``
  probabilities: it streams blocks of keys through the cache.  It is the default.

The fast route of the model (:mod:`vswin_edu.fast`) attends with the same parameters by other
kernels; a test holds it equal to this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ._checks import triple
from .relpos import RelativePositionBias3D


def logit_bias(bias: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """What is added to ``QK^T / sqrt(d)``: ``B`` alone ``(1, nH, N, N)``, or ``B + mask`` ``(nW, nH, N, N)``.

    ``bias`` ``(nH, N, N)`` is shared by all windows; ``mask`` ``(nW, N, N)`` by all heads (and
    clips).  Their sum is built by broadcasting, once for all clips of the batch.
    """
    if mask is None:
        return bias.unsqueeze(0)  # (1, nH, N, N)
    return bias.unsqueeze(0) + mask.unsqueeze(1)  # (nW, nH, N, N)


def explicit_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    additive: torch.Tensor,
    scale: float,
    p_drop: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``SoftMax(scale * QK^T + additive) V`` written out; returns ``(out, weights)``.

    ``q, k, v`` ``(B*nW, nH, N, d)``; ``additive`` ``(nW, nH, N, N)`` from :func:`logit_bias`
    (``nW = 1`` for regular windows), broadcast over the ``B`` clips.
    """
    Bw, nH, N, _ = q.shape
    nW = additive.shape[0]
    logits = (q * scale) @ k.transpose(-2, -1)  # (B*nW, nH, N, N)
    logits = logits.view(Bw // nW, nW, nH, N, N) + additive  # (B, nW, nH, N, N)
    # softmax in fp32 even under fp16 autocast: exp() of fp16 logits overflows (a known NaN source)
    weights = logits.softmax(dim=-1, dtype=torch.promote_types(logits.dtype, torch.float32))
    weights = weights.to(v.dtype).view(Bw, nH, N, N)  # (B*nW, nH, N, N)
    return F.dropout(weights, p_drop) @ v, weights  # (B*nW, nH, N, d), (B*nW, nH, N, N)


def sdpa_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    additive: torch.Tensor,
    scale: float,
    p_drop: float = 0.0,
) -> torch.Tensor:
    """The same as :func:`explicit_attention` by PyTorch's fused kernel, ``(B*nW, nH, N, d)``.

    The kernel broadcasts its mask over the leading dim only, so windows and heads are folded into
    one dim: queries ``(B, nW*nH, N, d)`` with the mask ``(1, nW*nH, N, N)``.
    """
    Bw, nH, N, d = q.shape
    nW = additive.shape[0]
    q, k, v = (t.reshape(Bw // nW, nW * nH, N, d) for t in (q, k, v))  # (B, nW*nH, N, d)
    attn_mask = additive.reshape(1, nW * nH, N, N).to(q.dtype)  # (1, nW*nH, N, N)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p_drop, scale=scale)
    return out.view(Bw, nH, N, d)  # (B*nW, nH, N, d)


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
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend inside each window.

        Args:
            x: windows ``(B*nW, N, C)``.
            mask: additive ``(nW, N, N)`` shifted-window mask, or None for regular windows.
            return_attn: also return the attention weights ``(B*nW, nH, N, N)`` (explicit path).
            window_size: the effective window of these windows if it is smaller than
                ``self.window_size`` (the bias is then indexed for it, see :mod:`vswin_edu.relpos`).

        Returns:
            ``(B*nW, N, C)``, and the weights when ``return_attn`` is True.
        """
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (B*nW, N, C={self.dim}), got {tuple(x.shape)}")
        Bw, N, _ = x.shape
        bias = self.relpos(window_size)  # (nH, N, N)
        if bias.shape[-1] != N:
            raise ValueError(
                f"x has N={N} tokens per window but the window {window_size or self.window_size} "
                f"has {bias.shape[-1]}; pass the effective window as window_size"
            )
        if mask is not None and (mask.dim() != 3 or mask.shape[-2:] != (N, N)):
            raise ValueError(f"mask must have shape (nW, {N}, {N}), got {tuple(mask.shape)}")
        if mask is not None and Bw % mask.shape[0]:
            raise ValueError(f"mask has nW={mask.shape[0]} windows; {Bw} windows is not a multiple (B * nW)")
        q, k, v = self.qkv_heads(x)  # each (B*nW, nH, N, d)
        additive = logit_bias(bias, mask)  # (nW or 1, nH, N, N)
        p_drop = self.attn_drop if self.training else 0.0
        if return_attn:
            out, weights = explicit_attention(q, k, v, additive, self.scale, p_drop)
            return self.project(out), weights
        return self.project(sdpa_attention(q, k, v, additive, self.scale, p_drop))

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of windows ``(b, N, C)``: three views ``(b, nH, N, d)``, no copies."""
        b, N, _ = x.shape
        qkv = self.qkv(x).view(b, N, 3, self.num_heads, self.head_dim)  # (b, N, 3, nH, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (b, nH, N, d)
        return q, k, v

    def project(self, out: torch.Tensor) -> torch.Tensor:
        """Concatenate the heads ``(b, nH, N, d) -> (b, N, C)`` and apply the output projection."""
        out = rearrange(out, "b h n d -> b n (h d)")  # (b, N, C)
        return self.proj_drop(self.proj(out))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}"
