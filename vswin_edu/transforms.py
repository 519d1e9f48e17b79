"""Inference preprocessing: decoded frames -> normalised views the model takes (paper Sec. 4.1
"Implementation details": the short side resized, three 224² crops at test time; chapter 11).

    frames (T, H, W, 3) uint8
      -> resize the short side to ``resize_size``            (T, 3, H', W')
      -> ``num_crops`` square crops of ``crop_size``          (n, T, 3, crop, crop)
      -> / 255, normalised by ``mean`` / ``std``             (n, T, 3, crop, crop)
      -> channels first, the model's layout                  (n, 3, T, crop, crop); n = 1: (3, T, crop, crop)

:class:`VideoClassificationPreset` is what ``weights.transforms()`` returns
(:mod:`vswin_edu.weights`), built on ``torchvision.transforms.v2``.  With one centre crop it gives
what torchvision's ``VideoClassification`` preset (``Swin3D_T_Weights.KINETICS400_V1.transforms()``,
which takes ``(T, 3, H, W)``) gives, to float precision; it adds the paper's three crops.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision import tv_tensors
from torchvision.transforms import v2

from .data.sampling import crop_corners

__all__ = ["MEAN", "STD", "VideoClassificationPreset", "default_resize"]

# The statistics the Video Swin checkpoints were trained with: ImageNet's (the official configs'
# img_norm_cfg, mean 123.675, 116.28, 103.53 and std 58.395, 57.12, 57.375 in 0-255 units, and
# torchvision's Swin3D presets) -- not the Kinetics mean (0.432, 0.395, 0.376) of torchvision's
# default VideoClassification, which its r3d / mvit weights use.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# One centre crop (the validation pipeline): resize the short side to 256 and keep the central 224.
CENTRE_CROP_MARGIN = 256 / 224


def default_resize(crop_size: int, num_crops: int) -> int:
    """The short side before cropping: ``crop_size * 256 / 224`` for one centre crop (torchvision's
    preset, the official validation pipeline), ``crop_size`` for several crops (the official test
    pipeline: three crops that together cover the whole frame)."""
    return round(crop_size * CENTRE_CROP_MARGIN) if num_crops == 1 else crop_size


class VideoClassificationPreset(nn.Module):
    """``(T, H, W, 3)`` uint8 frames -> ``(3, T, crop, crop)`` float, or ``(num_crops, 3, T, crop, crop)``.

    ``resize_size=None``: :func:`default_resize`.  One crop is the centre crop (``v2.CenterCrop``);
    several are spread along the longer side (:func:`~vswin_edu.data.crop_corners`, as
    :func:`~vswin_edu.data.multi_view` places them).
    """

    def __init__(
        self,
        *,
        crop_size: int = 224,
        resize_size: int | None = None,
        num_crops: int = 1,
        mean: Sequence[float] = MEAN,
        std: Sequence[float] = STD,
    ) -> None:
        super().__init__()
        for name, value in (("crop_size", crop_size), ("num_crops", num_crops), ("resize_size", resize_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        resize_size = default_resize(crop_size, num_crops) if resize_size is None else resize_size
        if resize_size < crop_size:
            raise ValueError(f"resize_size ({resize_size}) must be >= crop_size ({crop_size})")
        self.crop_size, self.resize_size, self.num_crops = crop_size, resize_size, num_crops
        self.mean, self.std = tuple(mean), tuple(std)
        # antialias=False as torchvision's video presets (and the official pipeline's cv2 resize)
        self.resize = v2.Resize(resize_size, antialias=False)
        self.centre_crop = v2.CenterCrop(crop_size)
        self.normalize = v2.Normalize(self.mean, self.std)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"frames must be uint8 (T, H, W, 3) as read_video returns, got {frames.dtype} "
                f"{tuple(frames.shape)}"
            )
        video = tv_tensors.Video(frames.permute(0, 3, 1, 2).float())  # (T, 3, H, W), 0..255
        # resize in float and round to grey levels, as torchvision's preset does (v2's native uint8
        # resize rounds some pixels the other way: one grey level apart)
        video = self.resize(video).round()  # (T, 3, H', W')
        if self.num_crops == 1:
            crops = self.centre_crop(video)[None]  # (1, T, 3, crop, crop)
        else:
            c = self.crop_size
            corners = crop_corners(video.shape[-2], video.shape[-1], c, self.num_crops)
            crops = torch.stack([video[..., t : t + c, x : x + c] for t, x in corners])  # (n, T, 3, c, c)
        views = self.normalize(crops.as_subclass(torch.Tensor) / 255)  # (n, T, 3, crop, crop)
        views = views.permute(0, 2, 1, 3, 4)  # (n, 3, T, crop, crop)
        return views[0] if self.num_crops == 1 else views

    def extra_repr(self) -> str:
        return (
            f"crop_size={self.crop_size}, resize_size={self.resize_size}, num_crops={self.num_crops}, "
            f"mean={self.mean}, std={self.std}"
        )
