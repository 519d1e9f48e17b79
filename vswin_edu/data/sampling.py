"""Which frames and crops a model sees: training clips, test-time views and their scores
(paper Sec. 4.1 "Implementation details"; chapters 0, 11, 12).

* :func:`sample_clip_indices` — the training clip: ``clip_len`` frames every ``stride`` frames
  (paper: 32 frames, stride 2 -> 16 x 56 x 56 tokens at 224²); short videos loop.
* :func:`multi_view` — test-time views: ``num_clips`` uniform temporal clips
  (:func:`multi_view_indices`) x ``num_crops`` spatial crops along the longer side
  (:func:`spatial_crops`, placed by :func:`crop_corners`; paper: 4 x 3 on Kinetics, 1 x 3 on
  SSv2), whose scores :func:`average_scores` averages.
* :func:`seeded_generator` — every random draw of the data code comes from a generator seeded by
  integers, so a sample does not depend on what ran before it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "seeded_generator",
    "sample_clip_indices",
    "multi_view_indices",
    "spatial_crops",
    "crop_corners",
    "multi_view",
    "average_scores",
]


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from integers ``(seed, index, ...)``, independent of any global state.

    Data code draws from these instead of the global torch RNG, so a sample does not depend on what
    ran before it (worker count, resumed runs, a notebook cell executed twice).
    """
    value = 0
    for key in keys:
        value = (value * 1_000_003 + int(key)) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


def sample_clip_indices(
    num_frames: int,
    clip_len: int = 32,
    stride: int = 2,
    mode: str = "random",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Frame indices of one clip, ``(clip_len,)`` long: ``start + stride * [0, 1, ..., clip_len-1]``.

    The clip spans ``(clip_len - 1) * stride + 1`` frames.  ``mode="random"`` draws the start
    uniformly (training), ``"center"`` centres the clip (validation).  A video shorter than the
    span is *looped*: indices wrap around modulo ``num_frames`` (mmaction2's ``loop`` option),
    so every clip has exactly ``clip_len`` frames and keeps its stride.
    """
    if num_frames < 1 or clip_len < 1 or stride < 1:
        raise ValueError(
            f"num_frames, clip_len and stride must be >= 1, got {num_frames}, {clip_len}, {stride}"
        )
    if mode not in ("random", "center"):
        raise ValueError(f"mode must be 'random' or 'center', got {mode!r}")
    slack = num_frames - ((clip_len - 1) * stride + 1)  # free frames around the clip
    if slack <= 0:
        start = 0
    elif mode == "center":
        start = slack // 2
    else:
        start = int(torch.randint(0, slack + 1, (1,), generator=generator))
    return (start + stride * torch.arange(clip_len)) % num_frames  # (clip_len,)


def multi_view_indices(
    num_frames: int, num_clips: int = 4, clip_len: int = 32, stride: int = 2
) -> torch.Tensor:
    """``num_clips`` uniformly spread temporal clips -> ``(num_clips, clip_len)`` frame indices.

    Clip ``k`` starts at ``floor((k + 1/2) * slack / num_clips)`` where ``slack`` is the number of
    frames left over by one clip, so the clips cover the video evenly and one clip is the centre
    clip of :func:`sample_clip_indices`.  Short videos loop as there.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    base = sample_clip_indices(num_frames, clip_len, stride, mode="center")  # validates the rest
    slack = max(num_frames - ((clip_len - 1) * stride + 1), 0)
    starts = [math.floor((k + 0.5) * slack / num_clips) for k in range(num_clips)]
    return (torch.tensor(starts)[:, None] + (base - base[0])[None, :]) % num_frames  # (num_clips, clip_len)


def spatial_crops(video: torch.Tensor, crop: int = 224, num_crops: int = 3) -> torch.Tensor:
    """Resize the shorter side to ``crop``, then take ``num_crops`` square crops along the longer side.

    ``video (C, T, H, W) -> (num_crops, C, T, crop, crop)``; with three crops they sit at the
    start, centre and end of the longer side (the paper's "3 crops" test), one crop is the centre.
    """
    if video.dim() != 4:
        raise ValueError(f"video must be (C, T, H, W), got shape {tuple(video.shape)}")
    if crop < 1 or num_crops < 1:
        raise ValueError(f"crop and num_crops must be >= 1, got {crop} and {num_crops}")
    C, T, H, W = video.shape
    scale = crop / min(H, W)
    new_h, new_w = max(crop, round(H * scale)), max(crop, round(W * scale))
    frames = video.float().permute(1, 0, 2, 3)  # (T, C, H, W): interpolate treats T as batch
    frames = F.interpolate(frames, size=(new_h, new_w), mode="bilinear", align_corners=False)
    frames = frames.permute(1, 0, 2, 3)  # (C, T, new_h, new_w)
    corners = crop_corners(new_h, new_w, crop, num_crops)
    views = [frames[..., top : top + crop, left : left + crop] for top, left in corners]
    return torch.stack(views)  # (num_crops, C, T, crop, crop)


def crop_corners(height: int, width: int, crop: int, num_crops: int) -> list[tuple[int, int]]:
    """Top-left corners ``(top, left)`` of ``num_crops`` square ``crop`` crops of a ``height x width``
    frame: spread evenly along the longer side (first at its start, last at its end), centred on the
    shorter one; one crop is the centre crop.

    Worked example: a 4 x 6 frame, ``crop=4``, three crops -> ``[(0, 0), (0, 1), (0, 2)]``.
    """
    if crop > min(height, width):
        raise ValueError(f"crop ({crop}) must fit the shorter side of a {height} x {width} frame")
    long_side = max(height, width)
    if num_crops == 1:
        offsets = [(long_side - crop) // 2]
    else:
        offsets = [round(k * (long_side - crop) / (num_crops - 1)) for k in range(num_crops)]
    if height >= width:  # portrait: crops go down the rows
        return [(o, (width - crop) // 2) for o in offsets]
    return [((height - crop) // 2, o) for o in offsets]  # landscape: crops go along the columns


def multi_view(
    video: torch.Tensor,
    num_clips: int = 4,
    num_crops: int = 3,
    clip_len: int = 32,
    stride: int = 2,
    crop: int = 224,
) -> torch.Tensor:
    """All test views of one whole video: ``(C, T_total, H, W) -> (V, C, clip_len, crop, crop)``.

    ``V = num_clips * num_crops`` views,
    clip-major: view ``k * num_crops + j`` is temporal clip ``k``, spatial crop ``j``.
    Paper: 4 x 3 views for Kinetics, 1 x 3 for Something-Something v2.
    """
    if video.dim() != 4:
        raise ValueError(f"video must be (C, T, H, W), got shape {tuple(video.shape)}")
    clips = multi_view_indices(video.shape[1], num_clips, clip_len, stride)  # (num_clips, clip_len)
    views = [spatial_crops(video[:, idx], crop, num_crops) for idx in clips]  # num_clips x (nc, C, T', c, c)
    return torch.cat(views)  # (num_clips * num_crops, C, clip_len, crop, crop)


def average_scores(logits_per_view: torch.Tensor, mode: str = "softmax") -> torch.Tensor:
    """Average the class scores of all views: ``(V, K) -> (K,)`` or ``(B, V, K) -> (B, K)``.

    ``mode="softmax"`` averages probabilities (the official test pipeline), ``"logits"`` averages
    raw logits.  The argmax usually agrees; probabilities keep one over-confident view from
    dominating.
    """
    if logits_per_view.dim() not in (2, 3):
        raise ValueError(f"logits_per_view must be (V, K) or (B, V, K), got {tuple(logits_per_view.shape)}")
    if mode == "softmax":
        return logits_per_view.softmax(dim=-1).mean(dim=-2)
    if mode == "logits":
        return logits_per_view.mean(dim=-2)
    raise ValueError(f"mode must be 'softmax' or 'logits', got {mode!r}")
