"""The training configuration: one frozen dataclass, read by :func:`~vswin_edu.train.fit` and built
from the flags of ``python -m vswin_edu.train`` (whose ``--help`` explains each field)."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from typing import Any

AMP_DTYPES = ("bf16", "fp16")
ATTENTION_KINDS = ("joint", "factorised")
# Paper Sec. 4.1: the pre-trained backbone learns at 0.1x the rate of the randomly initialised head.
FINETUNE_BACKBONE_LR_RATIO = 0.1


@dataclass(frozen=True)
class TrainConfig:
    """Everything :func:`vswin_edu.train.fit` needs besides the data.

    ``batch_size`` is the *global* batch of one optimizer step: it is split over the DDP processes
    and the gradient-accumulation micro-batches, so changing either leaves the maths unchanged.
    Every field is a primitive so the config can live in a ``weights_only`` checkpoint.  Every field
    is checked when the config is made: a bad value is a ``ValueError``/``TypeError`` naming the
    field, its flag, the allowed range and the value.
    """

    # the model
    model: str = "micro"  # a preset of vswin_edu.config.PRESETS: micro, t, s, b, l
    num_classes: int = 6  # outputs of the classifier head
    window_size: tuple[int, int, int] | None = None  # (P, M, M); None: the preset's
    shift_size: tuple[int, int, int] | None = None  # (D, H, W) of the odd blocks; None: half the window
    attention: str = "joint"  # joint (P, M, M) windows, or factorised: (1, M, M) then (P, 1, 1)
    drop_path: float | None = None  # stochastic-depth rate; None: the preset's (0.1 for Swin-T)
    # fine-tuning (paper Sec. 4.1): start from pre-trained weights
    finetune: str | None = None  # checkpoint whose backbone (and head, if its classes fit) to start from
    backbone_lr_ratio: float | None = None  # backbone lr / head lr; None: 0.1 with finetune, else one lr
    freeze_stages: int = 0  # with finetune: patch embedding + the first N stages frozen (0: none)
    # the optimisation
    epochs: int = 10  # passes over the training set (ignored when steps is given)
    steps: int | None = None  # total optimizer steps; overrides epochs
    batch_size: int = 32  # global batch per optimizer step (over all processes and micro-batches)
    grad_accum: int = 1  # micro-batches accumulated into one optimizer step
    lr: float = 2e-3  # peak AdamW lr; 2e-3 suits the micro model (paper: 1e-3 at batch 64)
    weight_decay: float = 0.05  # AdamW weight decay (not on norms, biases, bias tables)
    warmup_steps: int = 10  # linear warm-up steps before the cosine decay (paper: 2.5 epochs)
    min_lr_ratio: float = 0.0  # the cosine schedule decays to lr * min_lr_ratio
    label_smoothing: float = 0.0  # of the cross-entropy loss
    max_grad_norm: float | None = None  # clip the gradient norm to this; None: no clipping
    # how it runs
    amp: str | None = None  # mixed precision bf16 or fp16 (fp16 with a GradScaler); for CUDA
    fast: bool = True  # the blocks' fast route (vswin_edu.fast; same numbers); False: the readable steps
    compile: bool = False  # torch.compile the model (slow to compile on CPU)
    checkpoint_activations: bool = False  # recompute block activations in backward to save memory
    device: str = "auto"  # auto (CUDA if available, else CPU), cpu, cuda or cuda:N
    seed: int = 0  # seeds the weights, the data order, drop-path and the DataLoader workers
    num_workers: int = 0  # DataLoader worker processes per training process
    # logs and checkpoints
    eval_every: int | None = None  # evaluate (and log a row) every N steps; None: every epoch
    checkpoint_every: int | None = None  # write out_dir/last.pt every N steps; None: every epoch
    out_dir: str | None = None  # folder for last.pt and metrics.csv/json; None: no files
    tensorboard: str | None = None  # folder for TensorBoard event files of the logged rows; None: none
    resume: str | None = None  # checkpoint to resume from (exactly: same weights as never stopping)
    stop_at: int | None = None  # stop after this step (checkpointing first), as if interrupted
    progress: bool = True  # tqdm progress bars (off for deterministic notebook output)

    def __post_init__(self) -> None:
        """Check every field before anything runs: a nonsense value (a negative clipping norm flips
        the gradients, ``lr=inf`` trains to NaN) is an error naming the flag, the range and the value."""
        from ..config import PRESETS  # the model presets; vswin_edu.config imports nothing

        if self.model not in PRESETS:
            raise ValueError(f"{_flag('model')} must be one of {sorted(PRESETS)}, got {self.model!r}")
        for name in ("window_size", "shift_size"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _size3(value, name, zero_ok=name == "shift_size"))
        window = self.window_size or PRESETS[self.model].window_size
        if self.shift_size is not None and any(s >= w for s, w in zip(self.shift_size, window, strict=True)):
            raise ValueError(
                f"{_flag('shift_size')} must be smaller than the window {tuple(window)} on every axis "
                f"(0 <= shift < window), got {self.shift_size}"
            )
        _int_at_least(self.num_classes, "num_classes", 2, "a classifier needs two classes")
        _int_at_least(self.freeze_stages, "freeze_stages", 0)
        stages = len(PRESETS[self.model].depths)
        if self.freeze_stages > stages:
            raise ValueError(
                f"{_flag('freeze_stages')} must be at most the {stages} stages of --model {self.model}, "
                f"got {self.freeze_stages}"
            )
        if self.freeze_stages and self.finetune is None:
            raise ValueError(
                f"{_flag('freeze_stages')} freezes pre-trained stages: it needs --finetune CKPT, "
                f"got --freeze-stages {self.freeze_stages} without it"
            )
        for name in ("epochs", "batch_size", "grad_accum"):
            _int_at_least(getattr(self, name), name, 1)
        for name in ("steps", "eval_every", "checkpoint_every", "stop_at"):
            if getattr(self, name) is not None:
                _int_at_least(getattr(self, name), name, 1, "or leave it out")
        for name in ("warmup_steps", "num_workers"):
            _int_at_least(getattr(self, name), name, 0)
        _int_at_least(self.seed, "seed", 0)
        if self.seed >= 2**32:
            raise ValueError(f"{_flag('seed')} must be in [0, 2**32) (NumPy's seed range), got {self.seed}")
        _number_in(self.lr, "lr", low=0.0, low_open=True)
        _number_in(self.weight_decay, "weight_decay", low=0.0)
        _number_in(self.min_lr_ratio, "min_lr_ratio", low=0.0, high=1.0)
        _number_in(self.label_smoothing, "label_smoothing", low=0.0, high=1.0, high_open=True)
        if self.backbone_lr_ratio is not None:
            _number_in(self.backbone_lr_ratio, "backbone_lr_ratio", low=0.0, low_open=True)
        if self.drop_path is not None:
            _number_in(self.drop_path, "drop_path", low=0.0, high=1.0, high_open=True)
        if self.max_grad_norm is not None:
            _number_in(
                self.max_grad_norm,
                "max_grad_norm",
                low=0.0,
                low_open=True,
                hint="or leave it out: no clipping",
            )
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"{_flag('attention')} must be one of {ATTENTION_KINDS}, got {self.attention!r}")
        if self.amp not in (None, *AMP_DTYPES):
            raise ValueError(f"{_flag('amp')} must be None, 'bf16' or 'fp16', got {self.amp!r}")
        for name in ("fast", "compile", "checkpoint_activations", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{_flag(name)} must be True or False, got {getattr(self, name)!r}")
        _check_device(self.device)
        for name in ("finetune", "out_dir", "tensorboard", "resume"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, name, os.fspath(value))  # a str, so the config stays weights_only
            elif value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"{_flag(name)} must be a path (a non-empty str) or None, got {value!r}")

    def backbone_lr(self) -> float | None:
        """The backbone's learning rate as a fraction of the head's: ``backbone_lr_ratio``, else
        :data:`FINETUNE_BACKBONE_LR_RATIO` when fine-tuning; None: one learning rate for all."""
        if self.backbone_lr_ratio is not None or self.finetune is None:
            return self.backbone_lr_ratio
        return FINETUNE_BACKBONE_LR_RATIO

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
# (``finetune``: a resumed run takes its weights from the checkpoint, not from that file.)
RESUME_FREE_FIELDS = frozenset(
    {"resume", "finetune", "stop_at", "out_dir", "tensorboard", "progress", "num_workers", "device"}
)
# Fields that shape the model: a checkpoint's weights only fit the values it was trained with.
MODEL_FIELDS = ("model", "num_classes", "window_size", "shift_size", "attention")


class ResumeConfigError(ValueError):
    """A flag disagrees with the checkpoint being resumed or evaluated (its weights would not fit)."""


def check_model_flags(saved: dict[str, Any], config: TrainConfig, path: str) -> None:
    """Raise :class:`ResumeConfigError` naming the first flag that disagrees with the model the
    checkpoint ``path`` was trained with (``saved`` is its config), and the saved value.

    ``window_size``/``shift_size`` are compared as the model uses them (``None``: the preset's
    window, half of it as the shift), so leaving a flag out matches a checkpoint that set it to the
    default.
    """
    now = config.to_dict()
    for name in MODEL_FIELDS:
        if name not in saved:
            continue
        before, after = _model_value(name, saved), _model_value(name, now)
        if before != after:
            flag = "--" + name.replace("_", "-")
            raise ResumeConfigError(
                f"{flag} {_cli(now[name], after)} disagrees with the checkpoint {path}, which was trained "
                f"with {name}={_cli(saved[name], before)}: pass {flag} {_cli(saved[name], before)} "
                "(the checkpoint's weights only fit that model)"
            )


def _model_value(name: str, values: dict[str, Any]) -> Any:
    """The value a model-shaping field has in the built model (defaults resolved)."""
    from ..config import PRESETS

    if name not in ("window_size", "shift_size"):
        return values[name]
    window = tuple(values.get("window_size") or PRESETS[values["model"]].window_size)
    if name == "window_size":
        return window
    shift = values.get("shift_size")
    return tuple(shift) if shift is not None else tuple(w // 2 for w in window)


def _cli(raw: Any, value: Any) -> str:
    """A value as it is typed on the command line (``0 2 2`` for a triple)."""
    shown = " ".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
    return shown if raw is not None else f"{shown} (the default)"


def check_resume_config(saved: dict[str, Any], config: TrainConfig, path: str) -> None:
    """Warn if ``config`` differs from the checkpoint's ``saved`` config in a field that changes results.

    The model-shaping fields are :func:`check_model_flags`' and the optimiser-shaping ones
    :func:`check_param_group_flags`' (errors, not warnings).
    """
    check_model_flags(saved, config, path)
    check_param_group_flags(saved, config, path)
    changed = {
        k: (v, getattr(config, k))
        for k, v in saved.items()
        if k not in RESUME_FREE_FIELDS
        and k not in MODEL_FIELDS
        and hasattr(config, k)
        and _plain(getattr(config, k)) != _plain(v)
    }
    if changed:
        warnings.warn(
            f"resuming {path} with a changed config {changed} (saved, now): the run will not match "
            "an uninterrupted one",
            stacklevel=3,
        )


def check_param_group_flags(saved: dict[str, Any], config: TrainConfig, path: str) -> None:
    """Raise :class:`ResumeConfigError` if ``config``'s optimiser has other parameter groups than
    the one saved in ``path`` (``optimizer.load_state_dict`` needs the same): frozen stages are in
    no group, and two learning rates put the backbone and the head in groups of their own."""
    before = TrainConfig.from_dict(saved)
    if before.freeze_stages != config.freeze_stages:
        raise ResumeConfigError(
            f"--freeze-stages {config.freeze_stages} disagrees with the checkpoint {path}, which was "
            f"trained with freeze_stages={before.freeze_stages}: pass --freeze-stages {before.freeze_stages}"
        )
    if (before.backbone_lr() is None) != (config.backbone_lr() is None):
        if before.backbone_lr() is None:
            raise ResumeConfigError(
                f"the checkpoint {path} was trained with one learning rate for all parameters: "
                "leave out --finetune and --backbone-lr-ratio to resume it"
            )
        flag = f"--finetune {before.finetune}" if before.finetune else "--backbone-lr-ratio"
        raise ResumeConfigError(
            f"the checkpoint {path} was trained with the backbone at {before.backbone_lr()}x the head's "
            f"learning rate (fine-tuning): pass {flag} to resume it"
        )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value  # a checkpoint stores tuples as lists


# Field checks: every message names the field and its CLI flag, the allowed range and the value.


def _flag(name: str) -> str:
    return f"{name} (--{name.replace('_', '-')})"


def _int_at_least(value: Any, name: str, low: int, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{_flag(name)} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{_flag(name)} must be an int >= {low}{f' ({hint})' if hint else ''}, got {value}")


def _number_in(
    value: Any,
    name: str,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> None:
    """``value`` must be a finite number in the interval ``[low, high]`` (ends open on request)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or high == math.inf else ']'}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{_flag(name)} must be a number in {interval}, got {value!r}")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        raise ValueError(
            f"{_flag(name)} must be a finite number in {interval}{f' ({hint})' if hint else ''}, "
            f"got {value!r}"
        )


def _size3(value: Any, name: str, zero_ok: bool) -> tuple[int, int, int]:
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(f"{_flag(name)} must be 3 ints (D, H, W), got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, Integral) for v in value):
        raise TypeError(f"{_flag(name)} must be 3 ints (D, H, W), got {tuple(value)}")
    if any(v < (0 if zero_ok else 1) for v in value):
        raise ValueError(
            f"{_flag(name)} must be {'>= 0' if zero_ok else '>= 1'} on every axis, got {tuple(value)}"
        )
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def _check_device(device: Any) -> None:
    """``auto`` or a device torch understands (``cpu``, ``cuda``, ``cuda:1``, ...).

    Whether the device exists is checked when training starts (:func:`vswin_edu.train.resolve_device`),
    not here, so that a config saved on a GPU machine still loads on a laptop.
    """
    import torch

    if not isinstance(device, str):
        raise TypeError(f"{_flag('device')} must be a str (auto, cpu, cuda or cuda:N), got {device!r}")
    if device != "auto":
        try:
            torch.device(device)
        except (RuntimeError, ValueError):
            raise ValueError(
                f"{_flag('device')} must be auto, cpu, cuda or cuda:N (any torch.device), got {device!r}"
            ) from None
