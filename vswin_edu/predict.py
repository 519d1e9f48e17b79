"""Predict the action in a video: sample the test views, run them, average their scores (paper
Sec. 4.1 "Implementation details": 4 clips x 3 crops on Kinetics-400; chapter 11).

    video file -> count frames -> multi_view_indices: num_clips clips of clip_len frames
      -> read_frames: decode only those frames                           (num_clips * clip_len, H, W, 3)
      -> per clip: transform -> num_crops normalised crops               (num_crops, 3, clip_len, crop, crop)
      -> model -> logits per view                                        (V, K), V = num_clips * num_crops
      -> average_scores: softmax averaged over the views -> top-k        (K,)

Command line (a progress bar for decoding and views goes to stderr, so ``--json`` output stays clean)::

    python -m vswin_edu.predict VIDEO [--weights W | --checkpoint CKPT] [--model t] [--views 4x3]
                               [--topk 5] [--json] [--backend pyav|torchcodec] [--frames 32] [--stride 2]
                               [--crop 224]

``--weights KINETICS400_V1`` loads :mod:`vswin_edu.weights` (torch.hub cache; labels are the
Kinetics-400 names); ``--checkpoint`` any file :func:`vswin_edu.load` reads (labels are class numbers).
``vswin_edu.predict(model, video)`` is :func:`predict`: this module is callable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm import tqdm

from ._checks import parse_sizes
from .data import BACKENDS, average_scores, count_frames, multi_view_indices, read_frames
from .transforms import VideoClassificationPreset

__all__ = ["Prediction", "main", "parse_views", "predict", "view_transform"]


@dataclass(frozen=True)
class Prediction:
    """The ``topk`` most likely classes of one video, most likely first."""

    labels: list[str]  # class names (the weights' categories), or class numbers as text
    probs: list[float]  # softmax probabilities averaged over the views
    indices: list[int]  # class numbers (rows of the model's head)
    views: tuple[int, int]  # (temporal clips, spatial crops)


def parse_views(text: str) -> tuple[int, int]:
    """``"4x3"`` -> ``(4, 3)``: temporal clips x spatial crops; a clear error otherwise."""
    return parse_sizes(text, "views", "CLIPSxCROPS", "4x3")  # type: ignore[return-value]


def view_transform(model: nn.Module, num_crops: int, crop_size: int | None = None) -> nn.Module:
    """The preprocessing of ``model``'s named weights (``model.weights.transforms``) with
    ``num_crops`` crops, else the default :class:`VideoClassificationPreset`; ``crop_size``
    overrides the crop (224 in both)."""
    named = getattr(model, "weights", None)
    build = named.transforms if named is not None else VideoClassificationPreset
    return build(num_crops=num_crops, **({} if crop_size is None else {"crop_size": crop_size}))


def _check_views(views: Sequence[int]) -> tuple[int, int]:
    ints = isinstance(views, Sequence) and all(isinstance(v, int) and not isinstance(v, bool) for v in views)
    if not ints or len(views) != 2 or min(views) < 1:
        raise ValueError(f"views must be two positive ints (clips, crops) like (4, 3), got {views!r}")
    return views[0], views[1]


def _num_classes(model: nn.Module) -> int | None:
    head = getattr(model, "head", None)  # ours and torchvision's swin3d_* end in a Linear head
    return head.out_features if isinstance(head, nn.Linear) else None


def _check_topk(topk: int, num_classes: int | None) -> None:
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be an int >= 1, got {topk!r}")
    if num_classes is not None and topk > num_classes:
        raise ValueError(f"topk ({topk}) must be at most the model's number of classes ({num_classes})")


def _sampled_frames(
    video: str | os.PathLike | torch.Tensor,
    num_clips: int,
    clip_len: int,
    stride: int,
    backend: str,
    progress: bool,
) -> torch.Tensor:
    """The frames of every test clip, ``(num_clips, clip_len, H, W, 3)`` uint8, decoding only those."""
    frames_given = isinstance(video, torch.Tensor)
    if frames_given and (video.dim() != 4 or video.shape[-1] != 3 or video.dtype != torch.uint8):
        raise ValueError(f"video must be uint8 (T, H, W, 3) frames, got {video.dtype} {tuple(video.shape)}")
    total = video.shape[0] if frames_given else count_frames(video, backend)
    index = multi_view_indices(total, num_clips, clip_len, stride)  # (num_clips, clip_len)
    if frames_given:
        return video[index]
    frames = read_frames(video, index.flatten(), backend, progress)  # (num_clips * clip_len, H, W, 3)
    return frames.view(*index.shape, *frames.shape[1:])  # (num_clips, clip_len, H, W, 3)


@torch.inference_mode()
def _view_logits(
    model: nn.Module, frames: torch.Tensor, transform: Callable, num_crops: int, progress: bool
) -> torch.Tensor:
    """Logits of every view, clip-major like :func:`~vswin_edu.data.multi_view`: ``(V, K)``."""
    device = next(model.parameters()).device
    logits = []
    for clip in tqdm(frames, desc="views", unit="clip", disable=not progress):  # (clip_len, H, W, 3)
        views = transform(clip)
        views = views[None] if views.dim() == 4 else views  # (num_crops, 3, clip_len, crop, crop)
        if views.shape[0] != num_crops:
            raise ValueError(
                f"the transform made {views.shape[0]} crops per clip, views asks for {num_crops}"
            )
        logits.append(model(views.to(device)).float().cpu())  # (num_crops, K)
    return torch.cat(logits)  # (num_clips * num_crops, K)


def predict(
    model: nn.Module,
    video: str | os.PathLike | torch.Tensor,
    views: Sequence[int] = (4, 3),
    topk: int = 5,
    *,
    clip_len: int = 32,
    stride: int = 2,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    categories: Sequence[str] | None = None,
    backend: str = "pyav",
    progress: bool = False,
) -> Prediction:
    """Classify a video file (or ``(T, H, W, 3)`` uint8 frames) with the paper's multi-view test.

    ``views=(clips, crops)``: ``clips`` uniformly spread clips of ``clip_len`` frames every ``stride``
    (:func:`~vswin_edu.data.multi_view_indices`; short videos loop) x ``crops`` spatial crops made by
    ``transform`` (default :func:`view_transform`: the model's weights' preset).  The softmax of each
    view is averaged (:func:`~vswin_edu.data.average_scores`).  Labels: ``categories``, else
    ``model.weights.meta["categories"]``, else class numbers.  The model runs in eval mode and is
    left in its own mode afterwards.
    """
    num_clips, num_crops = _check_views(views)
    _check_topk(topk, _num_classes(model))
    transform = view_transform(model, num_crops) if transform is None else transform
    frames = _sampled_frames(video, num_clips, clip_len, stride, backend, progress)  # (clips, T, H, W, 3)
    was_training = model.training
    try:
        logits = _view_logits(model.eval(), frames, transform, num_crops, progress)  # (V, K)
    finally:
        model.train(was_training)
    probs = average_scores(logits)  # (K,)
    _check_topk(topk, probs.numel())
    names = categories if categories is not None else _categories(model)
    if names is not None and len(names) != probs.numel():
        raise ValueError(f"{len(names)} categories for a model with {probs.numel()} classes")
    top = probs.topk(topk)
    indices = top.indices.tolist()
    labels = [names[i] if names is not None else str(i) for i in indices]
    return Prediction(labels, top.values.tolist(), indices, (num_clips, num_crops))


def _categories(model: nn.Module) -> Sequence[str] | None:
    named = getattr(model, "weights", None)
    return None if named is None else named.meta.get("categories")


# Command line


def _model(args: argparse.Namespace) -> nn.Module:
    if (args.weights is None) == (args.checkpoint is None):
        raise ValueError("pass exactly one of --weights NAME (e.g. KINETICS400_V1) and --checkpoint FILE")
    if args.checkpoint is not None:
        from . import load

        return load(args.checkpoint)
    from .convert import build_with_weights  # what video_swin_t(weights=...) runs
    from .weights import WEIGHTS

    # a full name ("VideoSwin_B_Weights.KINETICS400_V1") says its variant; a short one takes --model's
    preset = next((p for p, e in WEIGHTS.items() if args.weights.startswith(f"{e.__name__}.")), args.model)
    return build_with_weights(preset, args.weights)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vswin_edu.predict", description=__doc__.split("\n")[0])
    parser.add_argument("video", help="a video file")
    parser.add_argument("--weights", help="named weights of --model: KINETICS400_V1, DEFAULT, ...")
    parser.add_argument("--checkpoint", help="a checkpoint file vswin_edu.load() reads (any layout)")
    parser.add_argument(
        "--model", default="t", choices=("t", "s", "b"), help="variant of a short --weights name"
    )
    parser.add_argument("--views", default="4x3", help="temporal clips x spatial crops (paper: 4x3)")
    parser.add_argument("--topk", type=int, default=5)
    parser.add_argument("--frames", type=int, default=32, help="frames per clip")
    parser.add_argument("--stride", type=int, default=2, help="take every stride-th frame")
    parser.add_argument("--crop", type=int, default=None, help="crop size (default: the weights' 224)")
    parser.add_argument("--backend", choices=BACKENDS, default="pyav", help="video decoder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print the prediction as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        views = parse_views(args.views)
        model = _model(args).to(args.device)
        transform = view_transform(model, views[1], args.crop)
        result = predict(
            model,
            args.video,
            views,
            args.topk,
            clip_len=args.frames,
            stride=args.stride,
            transform=transform,
            backend=args.backend,
            progress=True,
        )
    except (ValueError, TypeError, OSError, ImportError) as err:  # OSError: missing file, no download
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"video": str(args.video), **asdict(result)}))
    else:
        print(f"{args.video}: {views[0]}x{views[1]} views of {args.frames} frames (stride {args.stride})")
        for rank, (label, prob) in enumerate(zip(result.labels, result.probs, strict=True), start=1):
            print(f"{rank:>3}. {prob:6.1%}  {label}")
    return 0


class _CallableModule(types.ModuleType):
    """``vswin_edu.predict`` names this module (``python -m vswin_edu.predict``) and, called, the
    function: importing a submodule sets the package attribute, so a function of the same name in
    ``vswin_edu/__init__.py`` would be replaced by the module on first import."""

    def __call__(self, *args, **kwargs) -> Prediction:
        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    raise SystemExit(main())
