"""3D patch partition and linear embedding (paper Sec. 3.1; chapter 1).

The video ``(B, 3, T, H, W)`` is cut into ``2 x 4 x 4`` space-time patches.  Each patch holds
``2*4*4*3 = 96`` numbers; a linear layer maps them to ``C`` channels.  A 32-frame clip sampled with
temporal stride 2 at 224x224 becomes ``16 x 56 x 56`` tokens.

:func:`patch_partition` makes the raw 96-dim patch vectors explicit (for teaching);
:class:`PatchEmbed3D` does partition + linear embedding in one ``Conv3d`` with kernel = stride =
patch size, which is the same linear map (chapter 1 derives it by hand).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ._checks import check_video, triple


def pad_to_patch(video: torch.Tensor, patch_size: Sequence[int]) -> torch.Tensor:
    """Zero-pad T, H, W of a video ``(B, C, T, H, W)`` at the end up to multiples of the patch."""
    pt, ph, pw = ((-n) % p for n, p in zip(video.shape[2:], triple(patch_size, "patch_size"), strict=True))
    if pt == ph == pw == 0:
        return video
    return F.pad(video, (0, pw, 0, ph, 0, pt))  # (B, C, T+pt, H+ph, W+pw)


def patch_partition(video: torch.Tensor, patch_size: Sequence[int] = (2, 4, 4)) -> torch.Tensor:
    """Cut a video into 3D patches and flatten each one, ``(B, T/2, H/4, W/4, 2*4*4*3)``.

    The flattened order inside a patch is ``(channel, t, h, w)`` — the order of a ``Conv3d`` weight
    ``(C_out, 3, 2, 4, 4)`` — so ``patch_partition(v) @ conv.weight.flatten(1).T + conv.bias``
    equals :class:`PatchEmbed3D`'s projection.  T, H, W are zero-padded to multiples of the patch.
    """
    check_video(video, channels=None)
    pt, ph, pw = triple(patch_size, "patch_size")
    video = pad_to_patch(video, (pt, ph, pw))
    return rearrange(
        video, "b c (d pt) (h ph) (w pw) -> b d h w (c pt ph pw)", pt=pt, ph=ph, pw=pw
    )  # (B, D, H, W, 3*pt*ph*pw)


class PatchEmbed3D(nn.Module):
    """3D patch partition + linear embedding: video ``(B, 3, T, H, W)`` -> tokens ``(B, D, H, W, C)``.

    Same parameters (``proj`` = ``Conv3d``, optional ``norm``) and padding as torchvision's
    ``PatchEmbed3d``, so weights convert one to one.
    """

    def __init__(
        self,
        patch_size: Sequence[int] = (2, 4, 4),
        in_chans: int = 3,
        embed_dim: int = 96,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.patch_size = triple(patch_size, "patch_size")
        for name, v in (("in_chans", in_chans), ("embed_dim", embed_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.norm = norm_layer(embed_dim) if norm_layer is not None else None

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        check_video(video, channels=self.in_chans, floating=True)
        x = self.proj(pad_to_patch(video, self.patch_size))  # (B, C, D, H, W)
        x = rearrange(x, "b c d h w -> b d h w c")  # (B, D, H, W, C) channels-last from here on
        if self.norm is not None:
            x = self.norm(x)
        return x
