"""The training and evaluation loop (paper Sec. 4.1 "Implementation details"; chapter 10).

``fit(config, train_set, val_set)`` trains with AdamW and a cosine schedule after a linear warm-up,
the recipe of the paper (AdamW, lr 1e-3, weight decay 0.02-0.05, cosine, 2.5 warm-up epochs).
The same call runs on a laptop CPU, on one GPU (``amp="bf16"``) and under ``torchrun`` on many
(DistributedDataParallel; rank 0 logs and checkpoints).  Randomness is fully seeded: the data order
of an epoch is a function of ``(seed, epoch)`` and every RNG state goes into the checkpoint, so a
run stopped at step k and resumed ends with bit-identical weights.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from ..data import seeded_generator
from ..model import VideoSwinTransformer, build
from .checkpoint import get_rng_state, load_checkpoint, save_checkpoint, set_rng_state
from .config import RESUME_FREE_FIELDS, TrainConfig
from .distributed import all_sum, setup_distributed
from .evaluate import AMP_DTYPE, evaluate
from .optim import cosine_schedule, param_groups

CHECKPOINT_NAME = "last.pt"


@dataclass
class History:
    """What :func:`fit` returns: one row per evaluation, the trained model (in eval mode), the files."""

    rows: list[dict[str, Any]]
    model: nn.Module
    out_dir: Path | None = None
    checkpoint: Path | None = field(default=None)

    @property
    def final(self) -> dict[str, Any]:
        return self.rows[-1] if self.rows else {}

    def plot(self):
        """Learning curves as a matplotlib ``Figure`` (imports matplotlib only now)."""
        from ..viz.training import plot_learning_curves

        return plot_learning_curves(self.rows)


def build_model(config: TrainConfig) -> VideoSwinTransformer:
    """The model the config names: a preset with ``num_classes``, window, shift, attention and
    drop-path overridden."""
    overrides: dict[str, Any] = {"num_classes": config.num_classes, "attention": config.attention}
    for name in ("window_size", "shift_size"):
        if getattr(config, name) is not None:
            overrides[name] = tuple(getattr(config, name))
    if config.drop_path is not None:
        overrides["drop_path_rate"] = config.drop_path
    return build(config.model, **overrides)


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


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_logs(out_dir: Path, rows: list[dict[str, Any]], config: TrainConfig) -> None:
    """metrics.csv (one row per evaluation) and metrics.json (the same rows and the config)."""
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    _write_atomic(out_dir / "metrics.csv", buffer.getvalue())
    _write_atomic(out_dir / "metrics.json", json.dumps({"config": config.to_dict(), "rows": rows}, indent=1))


def _write_curves(out_dir: Path, rows: list[dict[str, Any]]) -> None:
    from ..viz.training import plot_learning_curves  # matplotlib only when a plot is written

    plot_learning_curves(rows).savefig(out_dir / "curves.png", dpi=100)


def _check_resume_config(saved: dict[str, Any], config: TrainConfig, path: str) -> None:
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
    return list(value) if isinstance(value, tuple) else value


def fit(
    config: TrainConfig,
    train_set: Dataset,
    val_set: Dataset | None = None,
    model: nn.Module | None = None,
) -> History:
    """Train ``model`` (default: :func:`build_model` of the config) on ``train_set``.

    Datasets yield ``(video (3, T, H, W), label)``.  Every ``eval_every`` steps (default: each
    epoch) a row ``{step, epoch, lr, train_loss, train_acc, val_loss, val_acc, elapsed_s}`` is
    added to the history (and to ``out_dir/metrics.csv|json``); every ``checkpoint_every`` steps
    ``out_dir/last.pt`` is replaced atomically.  ``config.resume`` continues a checkpoint exactly.
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
    from tqdm.auto import tqdm  # imported here: tqdm.auto may pull in ipywidgets inside a notebook

    accum = config.grad_accum
    micro, rest = divmod(config.batch_size, world * accum)
    if rest or micro == 0:
        raise ValueError(
            f"batch_size ({config.batch_size}) must be a multiple of processes x grad_accum "
            f"({world} x {accum})"
        )
    # Load first: a corrupted checkpoint must fail before any file is written.
    resumed = load_checkpoint(config.resume, map_location=device) if config.resume else None
    if resumed is not None:
        _check_resume_config(resumed["config"], config, config.resume)
    _seed_everything(config.seed)
    model = build_model(config) if model is None else model
    if config.checkpoint_activations:
        model.set_checkpointing(True)
    model.to(device).train()
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr)

    # The data order of epoch e is a permutation seeded by (seed, e) — for 1 or many processes.
    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=config.seed, drop_last=True)
    steps_per_epoch = len(sampler) // micro // accum
    if steps_per_epoch == 0:
        raise ValueError(
            f"train_set has {len(train_set)} samples, fewer than one global batch of {config.batch_size}"  # type: ignore[arg-type]
        )
    total = config.steps if config.steps is not None else config.epochs * steps_per_epoch
    scheduler = cosine_schedule(optimizer, config.warmup_steps, total, config.min_lr_ratio)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    step, rows = 0, []
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        if resumed["scaler"]:
            scaler.load_state_dict(resumed["scaler"])
        set_rng_state(resumed["rng"])
        step, rows = int(resumed["step"]), list(resumed["history"])

    net: nn.Module = model
    if world > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    no_sync = net.no_sync if world > 1 else nullcontext  # DDP: skip the all-reduce between micro-batches
    if config.compile:
        net = torch.compile(net)
    val_loader = None
    if val_set is not None:
        shard = Subset(val_set, range(rank, len(val_set), world))  # type: ignore[arg-type]
        val_loader = DataLoader(
            shard,
            batch_size=micro * accum,
            num_workers=config.num_workers,
            generator=seeded_generator(config.seed, -1),
        )
    out_dir = Path(config.out_dir) if config.out_dir and rank == 0 else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    autocast = torch.autocast(device.type, dtype=AMP_DTYPE[config.amp]) if config.amp else nullcontext()
    last = min(total, config.stop_at) if config.stop_at is not None else total
    eval_every = config.eval_every or steps_per_epoch
    ckpt_every = config.checkpoint_every or steps_per_epoch
    ckpt_path = out_dir / CHECKPOINT_NAME if out_dir is not None else None

    bar = tqdm(total=last, initial=step, desc="train", disable=not config.progress or rank != 0)
    start_time, seen = time.perf_counter(), [0.0, 0.0, 0.0]  # loss sum, correct, count since last row
    while step < last:
        epoch, skip = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch)
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        loader = DataLoader(
            train_set,
            batch_size=micro,
            sampler=_SkipSampler(sampler, skip * accum * micro),  # a resumed epoch skips seen batches
            num_workers=config.num_workers,
            drop_last=True,
            generator=seeded_generator(config.seed, epoch),  # worker seeds without touching the global RNG
            pin_memory=device.type == "cuda",
        )
        batches = iter(loader)
        for _ in range(skip, steps_per_epoch):
            optimizer.zero_grad(set_to_none=True)
            for i in range(accum):
                video, label = next(batches)
                video, label = video.to(device, non_blocking=True), label.to(device, non_blocking=True)
                last_micro = i == accum - 1  # gradients are all-reduced once per optimizer step
                with nullcontext() if last_micro else no_sync(), autocast:
                    logits = net(video)  # (B, K)
                    loss = F.cross_entropy(logits.float(), label, label_smoothing=config.label_smoothing)
                scaler.scale(loss / accum).backward()
                seen[0] += loss.item() * label.numel()
                seen[1] += (logits.argmax(-1) == label).sum().item()
                seen[2] += label.numel()
            if config.max_grad_norm is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if step % eval_every == 0 or step == last:
                loss_sum, correct, count = all_sum(seen, device)
                row = {
                    "step": step,
                    "epoch": round(step / steps_per_epoch, 4),
                    "lr": scheduler.get_last_lr()[0],
                    "train_loss": loss_sum / count,
                    "train_acc": correct / count,
                }
                if val_loader is not None:
                    metrics = evaluate(model, val_loader, device, config.amp)
                    row.update(val_loss=metrics["loss"], val_acc=metrics["acc"])
                row["elapsed_s"] = round(time.perf_counter() - start_time, 3)
                rows.append(row)
                seen = [0.0, 0.0, 0.0]
                if out_dir is not None:
                    _write_logs(out_dir, rows, config)
            if ckpt_path is not None and (step % ckpt_every == 0 or step == last):
                state = {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": get_rng_state(),  # drop-path / dropout continue exactly where they were
                    "step": step,
                    "epoch": step // steps_per_epoch,
                    "config": config.to_dict(),
                    "history": rows,
                }
                save_checkpoint(ckpt_path, state)
            if step == last:
                break
    bar.close()
    if out_dir is not None and rows:
        _write_curves(out_dir, rows)
    model.eval()
    return History(rows, model, out_dir, ckpt_path)
