"""The training and evaluation loop (paper Sec. 4.1 "Implementation details"; chapter 11).

``fit(config, train_set, val_set)`` trains with AdamW and a cosine schedule after a linear warm-up,
the recipe of the paper (AdamW, lr 1e-3, weight decay 0.02-0.05, cosine, 2.5 warm-up epochs).
The same call runs on a laptop CPU, on one GPU (``amp="bf16"``) and under ``torchrun`` on many
(DistributedDataParallel; rank 0 logs and checkpoints).  Randomness is fully seeded: the data order
of an epoch is a function of ``(seed, epoch)`` and every RNG state goes into the checkpoint, so a
run stopped at step k and resumed ends with bit-identical weights.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from ..config import VideoSwinConfig
from ..data import seeded_generator
from ..model import VideoSwinTransformer, build
from .checkpoint import (
    get_rng_state,
    load_checkpoint,
    prepare_out_dir,
    remove_stale_temporaries,
    save_checkpoint,
    set_rng_state,
)
from .config import TrainConfig, check_resume_config
from .distributed import all_sum, setup_distributed
from .evaluate import AMP_DTYPE, evaluate
from .finetune import freeze, frozen_modules, load_pretrained, read_pretrained
from .metrics import METRICS_TEMPORARIES, open_tensorboard, write_metrics, write_tensorboard
from .optim import adamw, cosine_schedule

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

CHECKPOINT_NAME = "last.pt"


@dataclass
class History:
    """What :func:`fit` returns: one row per evaluation, the trained model (in eval mode), the files.

    ``vswin_edu.viz.plot_learning_curves(history.rows)`` draws the rows (the loop itself never
    draws: it imports no plotting code).
    """

    rows: list[dict[str, Any]]
    model: nn.Module
    out_dir: Path | None = None
    checkpoint: Path | None = field(default=None)

    @property
    def final(self) -> dict[str, Any]:
        return self.rows[-1] if self.rows else {}


def build_model(config: TrainConfig) -> VideoSwinTransformer:
    """The model the config names: a preset with ``num_classes``, window, shift, attention,
    drop-path and the fast route overridden."""
    return build(config.model, **model_overrides(config))


def model_overrides(config: TrainConfig) -> dict[str, Any]:
    """The preset fields the training config overrides (:func:`build_model`)."""
    overrides: dict[str, Any] = {
        "num_classes": config.num_classes,
        "attention": config.attention,
        "fast": config.fast,
    }
    for name in ("window_size", "shift_size"):
        if getattr(config, name) is not None:
            overrides[name] = tuple(getattr(config, name))
    if config.drop_path is not None:
        overrides["drop_path_rate"] = config.drop_path
    return overrides


class _SkipSampler(Sampler[int]):
    """The indices of ``sampler`` after the first ``skip`` — how a resumed epoch skips seen batches."""

    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)  # type: ignore[arg-type]


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def fit(
    config: TrainConfig,
    train_set: Dataset,
    val_set: Dataset | None = None,
    model: nn.Module | None = None,
) -> History:
    """Train ``model`` (default: :func:`build_model` of the config) on ``train_set``.

    Datasets yield ``(video (3, T, H, W), label)``.  Every ``eval_every`` steps (default: each
    epoch) a row ``{step, epoch, lr, train_loss, train_acc, val_loss, val_acc, elapsed_s,
    clips_per_s}`` is added to the history (and to ``out_dir/metrics.csv|json``, and to the
    ``config.tensorboard`` event files); every ``checkpoint_every`` steps ``out_dir/last.pt`` is
    replaced atomically.  ``config.resume`` continues a checkpoint exactly; ``config.finetune``
    starts from pre-trained weights (:mod:`vswin_edu.train.finetune`).
    """
    rank, world, device, created = setup_distributed(config.device)
    try:
        return _fit(config, train_set, val_set, model, rank, world, device)
    finally:
        if created:
            dist.destroy_process_group()


def _fit(
    config: TrainConfig,
    train_set: Dataset,
    val_set: Dataset | None,
    model: nn.Module | None,
    rank: int,
    world: int,
    device: torch.device,
) -> History:
    """Set up (pre-trained weights, resume, output folders); then train."""
    micro = _micro_batch_size(config, world)
    if val_set is not None and len(val_set) == 0:  # type: ignore[arg-type]
        raise ValueError(
            "val_set is empty: it would report a validation loss of 0.0; pass None for no validation"
        )
    # Load first: a corrupted checkpoint must fail before any file is written.  On the CPU: the RNG
    # states must stay CPU tensors; the weights and optimiser state move to the model's device.
    resumed = load_checkpoint(config.resume) if config.resume else None
    if resumed is not None:
        check_resume_config(resumed["config"], config, config.resume)
    # A resumed run takes its weights from the resumed checkpoint, not from the pre-trained one.
    pretrained = read_pretrained(config.finetune) if config.finetune and resumed is None else None
    # The output folders are checked before the first step, not when the first checkpoint is due.
    out_dir = prepare_out_dir(config.out_dir) if config.out_dir and rank == 0 else None
    ckpt_path = out_dir / CHECKPOINT_NAME if out_dir is not None else None
    if ckpt_path is not None:  # temporaries of a save that was killed mid-write (last.pt is intact)
        remove_stale_temporaries(ckpt_path, METRICS_TEMPORARIES)
    tensorboard = None
    if config.tensorboard and rank == 0:
        tensorboard = open_tensorboard(prepare_out_dir(config.tensorboard, "tensorboard (--tensorboard)"))
    try:
        run = _Run(config, train_set, model, micro, rank, world, device, pretrained)
        if resumed is not None:
            run.resume(resumed)
        run.distribute(world)
        val_loader = _val_loader(val_set, config, micro, rank, world)
        _train(run, config, val_loader, out_dir, ckpt_path, tensorboard)
    finally:
        if tensorboard is not None:
            tensorboard.close()
    return History(run.rows, run.model, out_dir, ckpt_path)


def _train(
    run: _Run,
    config: TrainConfig,
    val_loader: DataLoader | None,
    out_dir: Path | None,
    ckpt_path: Path | None,
    tensorboard: SummaryWriter | None,
) -> None:
    """The steps from ``run.step`` to ``run.last``: log a row every ``eval_every`` steps, checkpoint
    every ``checkpoint_every``; the model is left in eval mode."""
    from tqdm.auto import tqdm  # imported here: tqdm.auto may pull in ipywidgets inside a notebook

    eval_every = config.eval_every or run.steps_per_epoch
    ckpt_every = config.checkpoint_every or run.steps_per_epoch
    bar = tqdm(total=run.last, initial=run.step, desc="train", disable=not config.progress or run.rank != 0)
    start_time = run.since = time.perf_counter()  # clips/s counts training time, not the set-up
    while run.step < run.last:
        epoch, skip = divmod(run.step, run.steps_per_epoch)
        batches = run.epoch_batches(epoch, skip)
        for _ in range(skip, run.steps_per_epoch):
            loss = run.train_step(batches)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if run.step % eval_every == 0 or run.step == run.last:
                run.log_row(val_loader, start_time)
                if out_dir is not None:
                    write_metrics(out_dir, run.rows, config)
                if tensorboard is not None:
                    write_tensorboard(tensorboard, run.rows[-1])
            if ckpt_path is not None and (run.step % ckpt_every == 0 or run.step == run.last):
                save_checkpoint(ckpt_path, run.state())
            if run.step == run.last:
                break
    bar.close()
    run.model.eval()


def _micro_batch_size(config: TrainConfig, world: int) -> int:
    """Samples per process and micro-batch: the global batch split over processes x accumulation."""
    micro, rest = divmod(config.batch_size, world * config.grad_accum)
    if rest or micro == 0:
        raise ValueError(
            f"batch_size ({config.batch_size}) must be a multiple of processes x grad_accum "
            f"({world} x {config.grad_accum})"
        )
    return micro


def _val_loader(
    val_set: Dataset | None, config: TrainConfig, micro: int, rank: int, world: int
) -> DataLoader | None:
    """This process's shard of the validation set, in batches of ``micro * grad_accum``."""
    if val_set is None:
        return None
    shard = Subset(val_set, range(rank, len(val_set), world))  # type: ignore[arg-type]
    return DataLoader(
        shard,
        batch_size=micro * config.grad_accum,
        num_workers=config.num_workers,
        generator=seeded_generator(config.seed, -1),
    )


class _Run:
    """The state one training run updates step by step: model, optimiser, schedule, counters.

    Built in the order that makes a run reproducible: seed, then the model (its initial weights
    draw from the seeded RNG; ``pretrained`` weights replace them, frozen stages are set apart),
    optimiser, data order, schedule.  :meth:`resume` then overwrites every piece of state from a
    checkpoint, RNG states included.
    """

    def __init__(
        self,
        config: TrainConfig,
        train_set: Dataset,
        model: nn.Module | None,
        micro: int,
        rank: int,
        world: int,
        device: torch.device,
        pretrained: Mapping | None = None,
    ) -> None:
        self.config, self.train_set, self.micro, self.device = config, train_set, micro, device
        self.accum, self.rank = config.grad_accum, rank
        _seed_everything(config.seed)
        self.model = build_model(config) if model is None else model
        if pretrained is not None:
            load_pretrained(self.model, pretrained, config.finetune)
        self.frozen = frozen_modules(self.model, config.freeze_stages)
        freeze(self.frozen)
        if config.checkpoint_activations:
            self.model.set_checkpointing(True)
        self.model.to(device)
        self.train_mode()
        self.optimizer = adamw(self.model, config.lr, config.weight_decay, config.backbone_lr())
        # The data order of epoch e is a permutation seeded by (seed, e) — for 1 or many processes.
        self.sampler = DistributedSampler(
            train_set, world, rank, shuffle=True, seed=config.seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // micro // self.accum
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"train_set has {len(train_set)} samples, fewer than one global batch of {config.batch_size}"  # type: ignore[arg-type]
            )
        total = config.steps if config.steps is not None else config.epochs * self.steps_per_epoch
        self.last = min(total, config.stop_at) if config.stop_at is not None else total  # the step to stop at
        self.scheduler = cosine_schedule(self.optimizer, config.warmup_steps, total, config.min_lr_ratio)
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
        self.autocast = (
            torch.autocast(device.type, dtype=AMP_DTYPE[config.amp]) if config.amp else nullcontext()
        )
        self.net: nn.Module = self.model  # what the forward runs: the model, or its DDP / compiled wrapper
        self.no_sync: Any = nullcontext
        self.step, self.rows = 0, []
        self.seen = [0.0, 0.0, 0.0]  # loss sum, correct, count since the last row
        self.since = time.perf_counter()  # when the training since the last row began

    def train_mode(self) -> None:
        """Training mode, but frozen stages in eval mode: no dropout or drop-path inside a fixed
        feature extractor (evaluation switches every module back, so each step calls this)."""
        self.model.train()
        for module in self.frozen:
            module.eval()

    def resume(self, resumed: dict[str, Any]) -> None:
        """Continue a checkpoint exactly: weights, optimiser, schedule, scaler, RNGs, step, rows.

        ``resumed`` is loaded on the CPU: ``load_state_dict`` copies the weights into the model's
        parameters and moves the optimiser state to their device; the RNG states stay on the CPU.
        """
        self.model.load_state_dict(resumed["model"])
        self.optimizer.load_state_dict(resumed["optimizer"])
        self.scheduler.load_state_dict(resumed["scheduler"])
        if resumed["scaler"]:
            self.scaler.load_state_dict(resumed["scaler"])
        set_rng_state(resumed["rng"])
        self.step, self.rows = int(resumed["step"]), list(resumed["history"])

    def distribute(self, world: int) -> None:
        """Wrap the loaded model for DDP (several processes) and ``torch.compile``."""
        if world > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=device_ids)
            self.no_sync = self.net.no_sync  # DDP: skip the all-reduce between micro-batches
        if self.config.compile:
            self.net = torch.compile(self.net)

    def epoch_batches(self, epoch: int, skip: int) -> Iterator[Any]:
        """Epoch ``epoch``'s micro-batches after its first ``skip`` steps (those a resumed run has done)."""
        config = self.config
        self.sampler.set_epoch(epoch)
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        loader = DataLoader(
            self.train_set,
            batch_size=self.micro,
            sampler=_SkipSampler(self.sampler, skip * self.accum * self.micro),
            num_workers=config.num_workers,
            drop_last=True,
            generator=seeded_generator(config.seed, epoch),  # worker seeds without touching the global RNG
            pin_memory=self.device.type == "cuda",
        )
        return iter(loader)

    def train_step(self, batches: Iterator[Any]) -> torch.Tensor:
        """One optimiser step on ``grad_accum`` micro-batches; returns the last micro-batch's loss."""
        self.train_mode()
        self.optimizer.zero_grad(set_to_none=True)
        for i in range(self.accum):
            loss = self._forward_backward(next(batches), last_micro=i == self.accum - 1)
        self._optimizer_step()
        return loss

    def _forward_backward(self, batch: Any, last_micro: bool) -> torch.Tensor:
        """Loss of one micro-batch, its gradient added to ``.grad`` (scaled by ``1 / grad_accum``)."""
        video, label = batch
        video, label = video.to(self.device, non_blocking=True), label.to(self.device, non_blocking=True)
        # gradients are all-reduced once per optimizer step, after the last micro-batch
        with nullcontext() if last_micro else self.no_sync(), self.autocast:
            logits = self.net(video)  # (B, K)
            loss = F.cross_entropy(logits.float(), label, label_smoothing=self.config.label_smoothing)
        self.scaler.scale(loss / self.accum).backward()
        self.seen[0] += loss.item() * label.numel()
        self.seen[1] += (logits.argmax(-1) == label).sum().item()
        self.seen[2] += label.numel()
        return loss

    def _optimizer_step(self) -> None:
        """Clip (optionally), step AdamW through the AMP scaler, advance the schedule and the step."""
        if self.config.max_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1

    def log_row(self, val_loader: DataLoader | None, start_time: float) -> None:
        """Add a row: training loss, accuracy and clips per second since the last row (over all
        processes), validation."""
        loss_sum, correct, count = all_sum(self.seen, self.device)
        clips_per_s = count / (time.perf_counter() - self.since)
        row = {
            "step": self.step,
            "epoch": round(self.step / self.steps_per_epoch, 4),
            "lr": self.scheduler.get_last_lr()[0],
            "train_loss": loss_sum / count,
            "train_acc": correct / count,
        }
        if val_loader is not None:
            metrics = evaluate(self.model, val_loader, self.device, self.config.amp)
            row.update(val_loss=metrics["loss"], val_acc=metrics["acc"])
        row["elapsed_s"] = round(time.perf_counter() - start_time, 3)
        row["clips_per_s"] = round(clips_per_s, 3)
        self.rows.append(row)
        self.seen, self.since = [0.0, 0.0, 0.0], time.perf_counter()

    def state(self) -> dict[str, Any]:
        """What ``last.pt`` holds: everything :meth:`resume` needs to continue exactly."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": get_rng_state(),  # drop-path / dropout continue exactly where they were
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "config": self.config.to_dict(),
            # the model's own configuration, so vswin_edu.load(path) rebuilds exactly this model
            # (shift, attention, ...) also when fit() was given a model the config does not describe
            "model_config": _model_config(self.model),
            "history": self.rows,
        }


def _model_config(model: nn.Module) -> dict[str, Any] | None:
    """``asdict`` of a :class:`VideoSwinTransformer`'s config (primitives and tuples), else None."""
    config = getattr(model, "config", None)
    return asdict(config) if isinstance(config, VideoSwinConfig) else None
