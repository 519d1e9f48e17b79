"""The training configuration: one frozen dataclass whose fields are also the CLI flags."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, fields
from typing import Any

AMP_DTYPES = ("bf16", "fp16")
ATTENTION_KINDS = ("joint", "factorised")


def _opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with a help text (read by the CLI, ``python -m vswin_edu.train --help``)."""
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class TrainConfig:
    """Everything :func:`vswin_edu.train.fit` needs besides the data.

    ``batch_size`` is the *global* batch of one optimizer step: it is split over the DDP processes
    and the gradient-accumulation micro-batches, so changing either leaves the maths unchanged.
    Every field is a primitive so the config can live in a ``weights_only`` checkpoint.
    """

    model: str = _opt("micro", "model preset of vswin_edu.model.PRESETS (micro, t, s, b, l)")
    num_classes: int = _opt(6, "number of classes of the classifier head")
    window_size: tuple[int, int, int] | None = _opt(None, "window (P, M, M); default: the preset's")
    shift_size: tuple[int, int, int] | None = _opt(
        None, "shift (D, H, W) of the odd blocks, e.g. 0 3 3 for no temporal shift; default: half the window"
    )
    attention: str = _opt(
        "joint", "joint (P, M, M) windows, or factorised: (1, M, M) then (P, 1, 1)", choices=ATTENTION_KINDS
    )
    drop_path: float | None = _opt(None, "stochastic-depth rate; default: the preset's (0.1 for Swin-T)")
    epochs: int = _opt(10, "passes over the training set (ignored when --steps is given)")
    steps: int | None = _opt(None, "total optimizer steps; overrides --epochs")
    batch_size: int = _opt(32, "global batch per optimizer step (over all processes and micro-batches)")
    grad_accum: int = _opt(1, "micro-batches accumulated into one optimizer step")
    lr: float = _opt(2e-3, "peak AdamW learning rate; 2e-3 suits the micro model (paper: 1e-3 at batch 64)")
    weight_decay: float = _opt(0.05, "AdamW weight decay (not applied to norms, biases, bias tables)")
    warmup_steps: int = _opt(10, "linear warm-up steps before the cosine decay (paper: 2.5 epochs)")
    min_lr_ratio: float = _opt(0.0, "the cosine schedule decays to lr * min_lr_ratio")
    label_smoothing: float = _opt(0.0, "label smoothing of the cross-entropy loss")
    max_grad_norm: float | None = _opt(None, "clip the gradient norm to this value; default: no clipping")
    amp: str | None = _opt(
        None, "mixed precision: bf16 or fp16 (fp16 uses a GradScaler); for CUDA", choices=AMP_DTYPES
    )
    fast: bool = _opt(
        True, "run the blocks by the fast route (vswin_edu.fast; same numbers); --no-fast: the readable steps"
    )
    compile: bool = _opt(False, "torch.compile the model (slow to compile on CPU)")
    checkpoint_activations: bool = _opt(False, "recompute block activations in backward to save memory")
    device: str = _opt("auto", "auto (CUDA if available, else CPU), cpu, cuda or cuda:N")
    seed: int = _opt(0, "seed of the weights, the data order, drop-path and the DataLoader workers")
    num_workers: int = _opt(0, "DataLoader worker processes per training process")
    eval_every: int | None = _opt(None, "evaluate (and log a row) every N steps; default: every epoch")
    checkpoint_every: int | None = _opt(None, "write out_dir/last.pt every N steps; default: every epoch")
    out_dir: str | None = _opt(
        None, "folder for last.pt and metrics.csv/json (the CLI adds curves.png); none: no files"
    )
    resume: str | None = _opt(None, "checkpoint to resume from (exactly: same weights as never stopping)")
    stop_at: int | None = _opt(None, "stop after this step (checkpointing first), as if interrupted")
    progress: bool = _opt(True, "show tqdm progress bars (turn off for deterministic notebook output)")

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "grad_accum": self.grad_accum}
        positive.update(
            {
                k: v
                for k in ("steps", "eval_every", "checkpoint_every", "stop_at")
                if (v := getattr(self, k)) is not None
            }
        )
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {self.attention!r}")
        if self.amp not in (None, *AMP_DTYPES):
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {self.amp!r}")
        if self.num_classes < 2 or self.lr <= 0 or self.warmup_steps < 0 or self.num_workers < 0:
            raise ValueError(
                "need num_classes >= 2, lr > 0, warmup_steps >= 0 and num_workers >= 0, got "
                f"{self.num_classes}, {self.lr}, {self.warmup_steps}, {self.num_workers}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they would be silently ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known: {sorted(known)}")
        values = dict(values)
        for name in ("window_size", "shift_size"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)


# Fields that may differ between a run and its resumption without changing the result.
RESUME_FREE_FIELDS = frozenset({"resume", "stop_at", "out_dir", "progress", "num_workers", "device"})


def check_resume_config(saved: dict[str, Any], config: TrainConfig, path: str) -> None:
    """Warn if ``config`` differs from the checkpoint's ``saved`` config in a field that changes results."""
    changed = {
        k: (v, getattr(config, k))
        for k, v in saved.items()
        if k not in RESUME_FREE_FIELDS and hasattr(config, k) and _plain(getattr(config, k)) != _plain(v)
    }
    if changed:
        warnings.warn(
            f"resuming {path} with a changed config {changed} (saved, now): the run will not match "
            "an uninterrupted one",
            stacklevel=3,
        )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value  # a checkpoint stores tuples as lists
