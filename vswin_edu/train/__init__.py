"""Training and evaluation of Video Swin models: ``fit``, ``evaluate``, ``evaluate_multi_view``,
atomic checkpoints with exact resume, DDP via ``torchrun``; ``python -m vswin_edu.train --help``.

Importing this package never imports matplotlib or ipywidgets (the learning-curve plot is imported
only when it is drawn), so a headless training job stays lean.
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .loop import (
    History,
    build_model,
    cosine_schedule,
    evaluate,
    evaluate_multi_view,
    fit,
    lr_factor,
    resolve_device,
)

__all__ = [
    "TrainConfig",
    "History",
    "fit",
    "evaluate",
    "evaluate_multi_view",
    "build_model",
    "cosine_schedule",
    "lr_factor",
    "resolve_device",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
]
