"""Training and evaluation of Video Swin models (chapter 11-12): ``fit``, ``evaluate``,
``evaluate_multi_view``, atomic checkpoints with exact resume, DDP via ``torchrun``;
``python -m vswin_edu.train --help``.

    config      TrainConfig: every knob, also the CLI flags
    optim       AdamW parameter groups (backbone at 0.1x the head's lr for fine-tuning), cosine schedule
    finetune    --finetune: pre-trained weights in, a new head, frozen stages
    loop        fit(): the training loop, logs, checkpoints, resume
    evaluate    accuracy over a loader; multi-view testing
    checkpoint  atomic save, weights_only load, RNG states
    distributed torchrun process group (gloo / nccl)
    metrics     metrics.csv / metrics.json, one row per evaluation; TensorBoard scalars

The loop never draws.  ``fit`` writes metrics; the learning curves are
``vswin_edu.viz.plot_learning_curves(history.rows)``, called by a notebook or by the command line,
which saves ``curves.png`` after training.  That command (``__main__.py``, lazily) is the one module
here that imports :mod:`vswin_edu.viz`; none imports :mod:`vswin_edu.widgets`, and importing this
package pulls in neither matplotlib nor ipywidgets, so a headless training job stays lean.
"""

from .checkpoint import CheckpointError, OutDirError, load_checkpoint, save_checkpoint
from .config import ResumeConfigError, TrainConfig
from .device import resolve_device
from .evaluate import evaluate, evaluate_multi_view
from .loop import History, build_model, fit
from .optim import adamw, cosine_schedule, lr_factor, param_groups

__all__ = [
    "TrainConfig",
    "History",
    "fit",
    "evaluate",
    "evaluate_multi_view",
    "build_model",
    "param_groups",
    "adamw",
    "cosine_schedule",
    "lr_factor",
    "resolve_device",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "OutDirError",
    "ResumeConfigError",
]
