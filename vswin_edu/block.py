"""The Video Swin Transformer block (paper Sec. 3.2, Fig. 3; chapter 7), and the factorised
variant of the paper's attention ablation (Sec. 4.3, Table 4; chapter 12).

    z'  = z + DropPath(W-MSA or SW-MSA(LN(z)))
    z'' = z' + DropPath(MLP(LN(z')))

Blocks come in pairs: the even block of a stage uses regular windows, the odd block windows
shifted by ``(P/2, M/2, M/2)``.  The attention half, :func:`shifted_window_attention`, is the seven
steps the chapters build, each a call of the function that chapter wrote:
**pad -> shift -> partition -> attend -> reverse -> unshift -> unpad**.

A block built with ``fast=True`` runs :func:`vswin_edu.fast.shifted_window_attention` and
:func:`vswin_edu.fast.chunked_mlp` instead: the same numbers by cached, fused kernels (appendix 14).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from . import fast as fast_route
from ._checks import check_shift, check_tokens, shift_triple, triple
from .attention import WindowAttention3D
from .shift import cyclic_shift, reverse_cyclic_shift, shifted_window_mask
from .windows import effective_window, pad_to_window, window_partition, window_reverse


def shifted_window_attention(
    x: torch.Tensor,
    attn: WindowAttention3D,
    window_size: Sequence[int],
    shift_size: Sequence[int],
    return_attn: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """(S)W-MSA on a normalised grid ``(B, D, H, W, C)`` by the window attention ``attn``.

    With ``return_attn`` also the weights ``(B*nW, nH, N, N)`` of the (shifted, padded) windows.
    """
    B, D, H, W, C = x.shape
    window, shift = effective_window((D, H, W), window_size, shift_size)  # clamped to a small grid
    x = pad_to_window(x, window)  # 1. pad          (B, Dp, Hp, Wp, C)
    _, Dp, Hp, Wp, _ = x.shape
    x = cyclic_shift(x, shift)  # 2. shift        (B, Dp, Hp, Wp, C)
    windows = window_partition(x, window)  # 3. partition    (B*nW, N, C)
    mask = shifted_window_mask((Dp, Hp, Wp), window, shift).to(x.device) if any(shift) else None
    out = attn(windows, mask=mask, return_attn=return_attn, window_size=window)  # 4. attend
    out, weights = out if return_attn else (out, None)  # (B*nW, N, C)
    x = window_reverse(out, window, B, Dp, Hp, Wp)  # 5. reverse      (B, Dp, Hp, Wp, C)
    x = reverse_cyclic_shift(x, shift)  # 6. unshift      (B, Dp, Hp, Wp, C)
    x = x[:, :D, :H, :W, :]  # 7. unpad        (B, D, H, W, C)
    return (x, weights) if return_attn else x


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for a whole clip with probability ``p`` (training only).

    Kept branches are scaled by ``1/(1-p)`` so that the expected output is unchanged.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Mlp(nn.Module):
    """The block's feed-forward network, token by token: Linear(C, 4C) -> GELU -> Linear(4C, C)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., C) -> (..., C)``."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class VideoSwinBlock(nn.Module):
    """LN -> (shifted) window attention -> residual; LN -> MLP -> residual, on ``(B, D, H, W, C)``.

    Args:
        dim: channels ``C``.
        num_heads: attention heads ``nH``.
        window_size: ``(P, M, M)``; clamped per input to :func:`effective_window`.
        shift_size: ``(0, 0, 0)`` for W-MSA, ``(P/2, M/2, M/2)`` for SW-MSA.
        mlp_ratio: hidden width of the MLP relative to ``dim``.
        drop_path: stochastic-depth probability of both residual branches.
        fast: run the fast route (:mod:`vswin_edu.fast`) instead of the readable steps; same numbers.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: Sequence[int] = (8, 7, 7),
        shift_size: Sequence[int] = (0, 0, 0),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        fast: bool = False,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.window_size = triple(window_size, "window_size")
        self.shift_size = shift_triple(shift_size)
        check_shift(self.window_size, self.shift_size)
        self.fast = fast
        self.norm1 = norm_layer(dim)
        self.attn = WindowAttention3D(
            dim, self.window_size, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop
        )
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(
        self, x: torch.Tensor, return_attn: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``(B, D, H, W, C) -> (B, D, H, W, C)``; with ``return_attn`` also the weights
        ``(B*nW, nH, N, N)`` of the (shifted, padded) windows (by the readable path)."""
        check_tokens(x, channels=self.dim)
        attn_out = self.attention(self.norm1(x), return_attn=return_attn)
        attn_out, weights = attn_out if return_attn else (attn_out, None)
        x = x + self.drop_path(attn_out)  # z' = z + (S)W-MSA(LN(z))
        x = x + self.drop_path(self.feed_forward(self.norm2(x)))  # z'' = z' + MLP(LN(z'))
        return (x, weights) if return_attn else x

    def attention(
        self, x: torch.Tensor, return_attn: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(S)W-MSA on a normalised grid: :func:`shifted_window_attention` with this block's windows."""
        return self.window_attention(x, self.attn, self.window_size, self.shift_size, return_attn)

    def window_attention(
        self,
        x: torch.Tensor,
        attn: WindowAttention3D,
        window_size: Sequence[int],
        shift_size: Sequence[int],
        return_attn: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """:func:`shifted_window_attention`, or its fast twin when ``self.fast`` and no weights are asked."""
        if self.fast and not return_attn:
            return fast_route.shifted_window_attention(x, attn, window_size, shift_size)
        return shifted_window_attention(x, attn, window_size, shift_size, return_attn)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``self.mlp(x)``, or in cache-sized chunks of tokens when ``self.fast``."""
        return fast_route.chunked_mlp(self.mlp, x) if self.fast else self.mlp(x)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, window_size={self.window_size}, shift_size={self.shift_size}, fast={self.fast}"
        )


class FactorisedVideoSwinBlock(VideoSwinBlock):
    """The paper's *factorised* ablation (Sec. 4.3, Table 4): space and time attended one after the other,

        y1 = z  + DropPath(MSA over (1, M, M) windows of LN(z))     space only
        y2 = y1 + DropPath(MSA over (P, 1, 1) windows of LN(y1))    time only
        out = y2 + DropPath(MLP(LN(y2)))

    instead of one joint ``(P, M, M)`` window (paper: joint 78.8, factorised 78.5 top-1).  Shifted
    blocks shift the spatial windows by ``shift_size[1:]`` and the temporal ones by ``shift_size[0]``.
    The temporal attention adds ``4C^2`` parameters per block, and a token attends to ``M^2 + P``
    keys instead of ``P M^2``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: Sequence[int] = (8, 7, 7),
        shift_size: Sequence[int] = (0, 0, 0),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        fast: bool = False,
    ) -> None:
        P, Mh, Mw = triple(window_size, "window_size")
        sd, sh, sw = shift_triple(shift_size)
        check_shift((P, Mh, Mw), (sd, sh, sw))
        super().__init__(  # the spatial half: norm1, attn, drop_path, norm2, mlp
            dim, num_heads, window_size=(1, Mh, Mw), shift_size=(0, sh, sw), mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias, drop=drop, attn_drop=attn_drop, drop_path=drop_path, norm_layer=norm_layer,
            fast=fast,
        )  # fmt: skip
        self.temporal_window, self.temporal_shift = (P, 1, 1), (sd, 0, 0)
        self.norm_t = norm_layer(dim)
        self.attn_t = WindowAttention3D(
            dim, self.temporal_window, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop
        )

    def forward(self, x: torch.Tensor, return_attn: bool = False) -> torch.Tensor:
        """``(B, D, H, W, C) -> (B, D, H, W, C)``."""
        if return_attn:
            raise ValueError(
                "return_attn: a factorised block has two attentions; call shifted_window_attention "
                "with block.attn (space) or block.attn_t (time) to see either"
            )
        check_tokens(x, channels=self.dim)
        x = x + self.drop_path(self.attention(self.norm1(x)))  # space
        x_t = self.window_attention(self.norm_t(x), self.attn_t, self.temporal_window, self.temporal_shift)
        x = x + self.drop_path(x_t)  # time
        return x + self.drop_path(self.feed_forward(self.norm2(x)))

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, space: window={self.window_size} shift={self.shift_size}, "
            f"time: window={self.temporal_window} shift={self.temporal_shift}, fast={self.fast}"
        )
