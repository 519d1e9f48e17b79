"""Patch merging: the 2x spatial downsampling between stages (paper Sec. 3.1; chapter 8).

Each 2x2 group of neighbouring tokens (in H and W; time is never merged) is concatenated into one
token of ``4C`` channels, normalised, and projected to ``2C``.  The concatenation order
``x0 = (even h, even w), x1 = (odd h, even w), x2 = (even h, odd w), x3 = (odd h, odd w)`` is the
one torchvision and the official code use; pretrained weights depend on it.  An odd H or W is
zero-padded first.  The whole layer is a 1x2x2 convolution with stride 1x2x2 (chapter 8 builds
its weight), preceded by a LayerNorm over the gathered 4C values.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_tokens


def merge_patches(x: torch.Tensor) -> torch.Tensor:
    """Gather 2x2 spatial neighbours: ``(B, D, H, W, C) -> (B, D, ceil(H/2), ceil(W/2), 4C)``."""
    check_tokens(x)
    H, W = x.shape[2], x.shape[3]
    x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))  # (B, D, H', W', C), H', W' even
    x0 = x[:, :, 0::2, 0::2, :]  # (B, D, H/2, W/2, C)
    x1 = x[:, :, 1::2, 0::2, :]
    x2 = x[:, :, 0::2, 1::2, :]
    x3 = x[:, :, 1::2, 1::2, :]
    return torch.cat([x0, x1, x2, x3], dim=-1)  # (B, D, H/2, W/2, 4C)


class PatchMerging(nn.Module):
    """``(B, D, H, W, C) -> (B, D, H/2, W/2, 2C)``: merge 2x2 tokens, LayerNorm(4C), Linear(4C, 2C)."""

    def __init__(self, dim: int, norm_layer: Callable[[int], nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.dim = dim
        self.norm = norm_layer(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tokens(x, channels=self.dim)
        return self.reduction(self.norm(merge_patches(x)))  # (B, D, H/2, W/2, 2C)
