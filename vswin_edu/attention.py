"""Window multi-head self-attention, W-MSA and SW-MSA (paper Sec. 3.2, Eq. 1; chapter 7).

Inside each 3D window of ``N`` tokens, every head computes

    Attention(Q, K, V) = SoftMax(Q K^T / sqrt(d) + B) V,

with ``B`` the 3D relative position bias (:mod:`vswin_edu.relpos`).  In a shifted block an extra
additive mask (:mod:`vswin_edu.shift`) keeps wrapped-round pieces of a window apart.

Two paths compute the same thing:

* the **explicit** path writes out ``QK^T``, the softmax and ``@ V`` — it can return the
  attention weights for plots (``return_attn=True``);
* the **fused** path calls :func:`torch.nn.functional.scaled_dot_product_attention` with
  ``B + mask`` as its additive float mask.  It never materialises the ``(N, N)`` probabilities in
  Python, which is several times faster on CPU and GPU, and it is the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ._checks import triple
from .relpos import RelativePositionBias3D


def combine_bias_and_mask(
    bias: torch.Tensor, mask: torch.Tensor | None, num_windows_total: int
) -> torch.Tensor:
    """Additive logits for every window: ``(1, nH, N, N)`` or, with a mask, ``(1, nW*nH, N, N)``.

    ``bias`` ``(nH, N, N)`` is shared by all windows; ``mask`` ``(nW, N, N)`` is shared by all clips
    and heads.  Their sum is built once per forward by broadcasting (never per clip of the batch).
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
        bias = self.relpos(window_size)  # (nH, N', N')
        if bias.shape[-1] != N:
            raise ValueError(
                f"x has N={N} tokens per window but the window {window_size or self.window_size} "
                f"has {bias.shape[-1]}; pass the effective window as window_size"
            )
        if mask is not None and mask.shape[-2:] != (N, N):
            raise ValueError(f"mask must have shape (nW, {N}, {N}), got {tuple(mask.shape)}")
        q, k, v = rearrange(
            self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads
        )  # each (B*nW, nH, N, d)
        p_drop = self.attn_drop if self.training else 0.0
        if return_attn:
            out, attn = self._explicit(q, k, v, bias, mask, p_drop)
        else:
            out, attn = self._fused(q, k, v, bias, mask, p_drop), None
        out = rearrange(out, "b h n d -> b n (h d)")  # (B*nW, N, C)
        out = self.proj_drop(self.proj(out))
        return (out, attn) if return_attn else out

    def _explicit(self, q, k, v, bias, mask, p_drop):
        """SoftMax(QK^T/sqrt(d) + B [+ mask]) V, written out; also returns the weights."""
        Bw, nH, N, _ = q.shape
        logits = (q * self.scale) @ k.transpose(-2, -1)  # (B*nW, nH, N, N)
        logits = logits + bias.unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            if Bw % nW:
                raise ValueError(f"mask has nW={nW} windows; {Bw} windows is not a multiple")
            logits = logits.view(Bw // nW, nW, nH, N, N) + mask[None, :, None]  # (B, nW, nH, N, N)
            logits = logits.view(Bw, nH, N, N)
        attn = logits.softmax(dim=-1)
        return F.dropout(attn, p_drop) @ v, attn  # (B*nW, nH, N, d), (B*nW, nH, N, N)

    def _fused(self, q, k, v, bias, mask, p_drop):
        """The same attention through ``F.scaled_dot_product_attention`` (no weights kept)."""
        Bw, nH, N, d = q.shape
        attn_mask = combine_bias_and_mask(bias, mask, Bw).to(q.dtype)  # (1, [nW*]nH, N, N)
        if mask is not None:
            # (B*nW, nH, N, d) -> (B, nW*nH, N, d): a free view, so the mask broadcasts over B
            q, k, v = (t.reshape(-1, attn_mask.shape[1], N, d) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p_drop)
        return out.reshape(Bw, nH, N, d)  # (B*nW, nH, N, d)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}"
