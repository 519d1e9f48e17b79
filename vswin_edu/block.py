"""The Video Swin Transformer block (paper Sec. 3.2, Fig. 3; chapter 7), and the factorised
variant of the paper's attention ablation (Sec. 4.3, Table 4; chapter 11).

    z'  = z + DropPath(W-MSA or SW-MSA(LN(z)))
    z'' = z' + DropPath(MLP(LN(z')))

Blocks come in pairs: the even block of a stage uses regular windows, the odd block windows
shifted by ``(P/2, M/2, M/2)``.  The attention half reads as named steps:
**pad -> shift -> partition -> attend -> reverse -> unshift -> unpad**.

Shift and partition only move tokens, so together they are one permutation of the tokens.  The block
computes that permutation once per grid by running the readable steps on token *ids*
(:func:`token_order`) and then moves the features with a single gather, instead of a roll (which
copies the grid once per rolled axis) followed by a partition copy — about ten times less time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
from torch import nn

from ._checks import check_tokens, shift_triple, triple
from .attention import WindowAttention3D
from .shift import cached_shifted_window_mask, cached_window_groups, cyclic_shift, shifted_window_groups
from .windows import Size3, effective_window, pad_to_window, window_partition


@lru_cache(maxsize=256)
def window_plan(dhw: Size3, window_size: Size3, shift_size: Size3) -> tuple[Size3, Size3]:
    """:func:`effective_window` for a grid, computed once per (grid, window, shift) and reused."""
    return effective_window(dhw, window_size, shift_size)


@lru_cache(maxsize=256)
def token_order(
    dhw: Size3, window_size: Size3, shift_size: Size3, device: torch.device, by_mask_pattern: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift + partition as one permutation of the ``L = D*H*W`` tokens, and its inverse.

    ``order`` is what :func:`window_partition` of :func:`cyclic_shift` does to the token ids
    ``0 .. L-1``, so for a grid ``x`` ``(B, D, H, W, C)``::

        window_partition(cyclic_shift(x, shift), window)  ==  x.flatten(1, 3)[:, order]  # (B, nW*N, C)

    and ``inverse`` (``order.argsort()``) undoes it: window reverse + reverse shift.  With
    ``by_mask_pattern`` the windows come out sorted by their mask pattern, group after group
    (:func:`vswin_edu.shift.shifted_window_groups`), which the fused attention takes as slices.
    Both are ``LongTensor (L,)``, built once per (padded grid, window, shift, device, sorting).
    """
    with torch.inference_mode(False):  # built under inference_mode, still usable in training
        ids = torch.arange(dhw[0] * dhw[1] * dhw[2]).view(1, *dhw, 1)  # (1, D, H, W, 1)
        order = window_partition(cyclic_shift(ids, shift_size), window_size)  # (nW, N, 1)
        if by_mask_pattern:
            order = order[shifted_window_groups(dhw, window_size, shift_size).order]
        order = order.flatten()  # (nW*N,)
        return order.to(device), order.argsort().to(device)


def shifted_window_attention(
    x: torch.Tensor,
    attn: WindowAttention3D,
    window_size: Size3,
    shift_size: Size3,
    return_attn: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """(S)W-MSA on a normalised grid ``(B, D, H, W, C)``, by the window attention ``attn``.

    pad -> shift -> partition -> attend -> reverse -> unshift -> unpad; with ``return_attn`` also
    the weights ``(B*nW, nH, N, N)`` of the (shifted, padded) windows in raster order.
    """
    B, D, H, W, C = x.shape
    window, shift = window_plan((D, H, W), window_size, shift_size)
    x = pad_to_window(x, window)  # (B, Dp, Hp, Wp, C)
    padded = (x.shape[1], x.shape[2], x.shape[3])
    N = window[0] * window[1] * window[2]
    # The fused path takes the windows of a shifted grid sorted by mask pattern (each pattern one
    # slice); the weights come back in raster order, with the whole mask.  Masks, groups and
    # orders are built on the first forward for a grid, device and dtype, then looked up.
    by_pattern = any(shift) and not return_attn
    order, inverse = token_order(padded, window, shift, x.device, by_pattern)
    # shift + partition in one gather: window_partition(cyclic_shift(x, shift), window)
    windows = x.flatten(1, 3).index_select(1, order).view(-1, N, C)  # (B*nW, N, C)
    if by_pattern:
        groups = cached_window_groups(padded, window, shift, x.device, x.dtype, sorted_windows=True)
        out = attn(windows, window_size=window, mask_groups=groups)
    else:
        mask = cached_shifted_window_mask(padded, window, shift, x.device, x.dtype) if any(shift) else None
        out = attn(windows, mask=mask, return_attn=return_attn, window_size=window)
    if return_attn:
        out, weights = out
    # reverse + unshift in one gather: reverse_cyclic_shift(window_reverse(out, ...), shift)
    x = out.view(B, -1, C).index_select(1, inverse).view(B, *padded, C)  # (B, Dp, Hp, Wp, C)
    x = x[:, :D, :H, :W, :]  # (B, D, H, W, C)
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


# On CPU the MLP works through this many tokens at a time (see Mlp.forward).
MLP_CHUNK_TOKENS = 4096


class Mlp(nn.Module):
    """The block's feed-forward network: Linear(C, 4C) -> GELU -> Linear(4C, C)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., C) -> (..., C)``, token by token.

        On CPU the tokens go through in chunks of ``MLP_CHUNK_TOKENS``: the hidden layer is four
        times wider than the tokens (77 MB at Swin-T's stage 1 for 32x224^2), and a chunk's hidden
        activations stay in the cache between fc1, GELU and fc2 instead of making a round trip
        through main memory — the same numbers, about twice as fast at stage 1.  GPUs (and
        ``torch.compile``) take all tokens at once.
        """
        tokens = x.reshape(-1, x.shape[-1])  # (L, C)
        if x.device.type != "cpu" or torch.compiler.is_compiling() or len(tokens) <= MLP_CHUNK_TOKENS:
            return self._mlp(x)
        return torch.cat([self._mlp(chunk) for chunk in tokens.split(MLP_CHUNK_TOKENS)]).view_as(x)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
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
    ) -> None:
        super().__init__()
        self.dim = dim
        self.window_size = triple(window_size, "window_size")
        self.shift_size = shift_triple(shift_size)
        for axis, w, s in zip("DHW", self.window_size, self.shift_size, strict=True):
            if s >= w:
                raise ValueError(
                    f"shift_size must be smaller than window_size on every axis, got "
                    f"{self.shift_size} for window {self.window_size} (axis {axis})"
                )
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
        ``(B*nW, nH, N, N)`` of the (shifted, padded) windows."""
        check_tokens(x, channels=self.dim)
        attn_out = self.attention(self.norm1(x), return_attn=return_attn)
        if return_attn:
            attn_out, weights = attn_out
        x = x + self.drop_path(attn_out)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return (x, weights) if return_attn else x

    def attention(
        self, x: torch.Tensor, return_attn: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(S)W-MSA on a normalised grid: :func:`shifted_window_attention` with this block's windows."""
        return shifted_window_attention(x, self.attn, self.window_size, self.shift_size, return_attn)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, shift_size={self.shift_size}"


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
    ) -> None:
        P, Mh, Mw = triple(window_size, "window_size")
        sd, sh, sw = shift_triple(shift_size)
        if sd >= P:
            raise ValueError(
                f"shift_size must be smaller than window_size on every axis, got {(sd, sh, sw)} "
                f"for window {(P, Mh, Mw)} (axis D)"
            )
        super().__init__(  # the spatial half: norm1, attn, drop_path, norm2, mlp
            dim, num_heads, window_size=(1, Mh, Mw), shift_size=(0, sh, sw), mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias, drop=drop, attn_drop=attn_drop, drop_path=drop_path, norm_layer=norm_layer,
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
        x_t = shifted_window_attention(self.norm_t(x), self.attn_t, self.temporal_window, self.temporal_shift)
        x = x + self.drop_path(x_t)  # time
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, space: window={self.window_size} shift={self.shift_size}, "
            f"time: window={self.temporal_window} shift={self.temporal_shift}"
        )
