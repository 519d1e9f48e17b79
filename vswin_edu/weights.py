"""Named pretrained weights, shaped like torchvision's ``WeightsEnum``: a file, its preprocessing and
what is known about it (paper Sec. 4.1-4.2, Table 1; chapter 9).

One enum per variant; each member has ``.url`` (the file), ``.transforms()`` (a
:class:`~vswin_edu.transforms.VideoClassificationPreset`) and ``.meta`` (``categories``,
``num_params``, ``min_size``, ``min_temporal_size``, ``recipe``, ``_metrics``, ``_docs``)::

    VideoSwin_T_Weights.KINETICS400_V1               torchvision's Swin3D_T_Weights.KINETICS400_V1
    VideoSwin_S_Weights.KINETICS400_V1               torchvision's Swin3D_S_Weights.KINETICS400_V1
    VideoSwin_B_Weights.KINETICS400_V1               torchvision's Swin3D_B_Weights.KINETICS400_V1
    VideoSwin_B_Weights.KINETICS400_IMAGENET22K_V1   ... .KINETICS400_IMAGENET22K_V1 (pre-trained on IN-22K)

The files are torchvision's own (the official checkpoints, ported): ``video_swin_t(weights=
VideoSwin_T_Weights.KINETICS400_V1)`` -- or ``weights="KINETICS400_V1"`` -- downloads one once
into torch.hub's cache (``$TORCH_HOME/hub/checkpoints``, see ``torch.hub.get_dir()``), reads it with
``weights_only=True`` and converts it to our key names (:func:`vswin_edu.convert.from_torchvision`).
The numbers in ``meta`` are read from torchvision's enums (``tests/test_predict.py`` compares them).
"""

from __future__ import annotations

import os
from enum import Enum
from functools import partial
from importlib import resources
from pathlib import Path
from urllib.error import URLError

import torch
from torchvision.models import Weights, WeightsEnum
from torchvision.models import video as tv_video

from .convert import from_torchvision
from .transforms import VideoClassificationPreset

__all__ = [
    "KINETICS400_CATEGORIES",
    "VideoSwinWeights",
    "VideoSwin_T_Weights",
    "VideoSwin_S_Weights",
    "VideoSwin_B_Weights",
    "WEIGHTS",
    "get_weights",
]

# The 400 class names, in the order of the heads' outputs (the file ships with the package).
KINETICS400_CATEGORIES = (
    resources.files("vswin_edu.data").joinpath("kinetics400_categories.txt").read_text().splitlines()
)

# torchvision's preset: short side 256, centre crop 224; transforms(num_crops=3) gives the paper's test
_TRANSFORMS = partial(VideoClassificationPreset, crop_size=224)


class VideoSwinWeights(WeightsEnum):
    """torchvision's ``WeightsEnum`` (``verify``, ``url``, ``transforms``, ``meta``), whose
    :meth:`get_state_dict` returns our key names."""

    def get_state_dict(self, progress: bool = True, check_hash: bool = True) -> dict[str, torch.Tensor]:
        """The weights as :class:`~vswin_edu.model.VideoSwinTransformer` names them, from torch.hub's
        cache (downloaded on first use; the hash in the file name is checked after a download)."""
        try:
            state_dict = torch.hub.load_state_dict_from_url(
                self.url, map_location="cpu", progress=progress, check_hash=check_hash, weights_only=True
            )
        except (URLError, OSError) as err:
            raise ConnectionError(
                f"could not download {self.url} ({err}). Offline? Copy the file to {self.cached_file} "
                "or pass weights=<local path> instead"
            ) from err
        return from_torchvision(state_dict)

    @property
    def cached_file(self) -> Path:
        """Where torch.hub keeps (or will keep) the downloaded file."""
        return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(self.url)


def _ported(member: WeightsEnum) -> Weights:
    """torchvision's file and metadata (``num_params``, ``_metrics``, ``_ops``, ...) with our preset,
    the shipped class names and the name of the torchvision member it came from."""
    meta = {**member.meta, "categories": KINETICS400_CATEGORIES, "torchvision": repr(member)}
    return Weights(url=member.url, transforms=_TRANSFORMS, meta=meta)


class VideoSwin_T_Weights(VideoSwinWeights):
    KINETICS400_V1 = _ported(tv_video.Swin3D_T_Weights.KINETICS400_V1)
    DEFAULT = KINETICS400_V1


class VideoSwin_S_Weights(VideoSwinWeights):
    KINETICS400_V1 = _ported(tv_video.Swin3D_S_Weights.KINETICS400_V1)
    DEFAULT = KINETICS400_V1


class VideoSwin_B_Weights(VideoSwinWeights):
    KINETICS400_V1 = _ported(tv_video.Swin3D_B_Weights.KINETICS400_V1)
    KINETICS400_IMAGENET22K_V1 = _ported(tv_video.Swin3D_B_Weights.KINETICS400_IMAGENET22K_V1)
    DEFAULT = KINETICS400_V1


# preset name (vswin_edu.config.PRESETS) -> its named weights; Swin-L and micro have none
WEIGHTS: dict[str, type[VideoSwinWeights]] = {
    "t": VideoSwin_T_Weights,
    "s": VideoSwin_S_Weights,
    "b": VideoSwin_B_Weights,
}


def get_weights(preset: str, weights: str | Enum) -> VideoSwinWeights:
    """The member ``weights`` names for preset ``preset``: a member itself, ``"KINETICS400_V1"`` or
    ``"VideoSwin_T_Weights.KINETICS400_V1"``.

    Raises ``TypeError`` for a member of another enum (another variant's, or torchvision's own) and
    ``FileNotFoundError`` for a string that names no member (``video_swin_t(weights=...)`` reads a
    string that is a file as a checkpoint and never asks here).
    """
    enum = WEIGHTS.get(preset)
    names = [] if enum is None else list(enum.__members__)
    if isinstance(weights, Enum):
        if enum is None or type(weights) is not enum:
            expected = f"one of {enum.__name__}'s {names}" if enum else "a local checkpoint"
            raise TypeError(f"weights {weights!r} do not fit preset {preset!r}: expected {expected}")
        return weights
    short = weights.removeprefix(f"{enum.__name__}.") if enum is not None else weights
    if short not in names:
        if enum is None:
            raise FileNotFoundError(
                f"no checkpoint file at {weights!r} (preset {preset!r} has no named weights)"
            )
        raise FileNotFoundError(
            f"no checkpoint file at {weights!r}, nor is it a name of {enum.__name__}: {names}"
        )
    return enum[short]
