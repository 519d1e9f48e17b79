"""The optimiser recipe of the paper (Sec. 4.1): AdamW without weight decay on norms, biases and
relative-position bias tables, a cosine learning-rate schedule after a linear warm-up, and for
fine-tuning a pre-trained backbone at 0.1x the learning rate of the randomly initialised head."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

HEAD_PREFIX = "head."  # the classifier's parameters; everything else is the backbone


def param_groups(
    model: nn.Module, weight_decay: float, backbone_lr_ratio: float | None = None
) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only: not on norms, biases or relative-position bias tables
    (as the official code: decaying the bias table would pull every offset's bias to zero).

    ``backbone_lr_ratio`` (fine-tuning) splits each group into the backbone's and the head's, named
    ``"backbone"`` / ``"head"`` and marked with their ``"lr_ratio"`` of the peak learning rate
    (``backbone_lr_ratio`` and 1; :func:`adamw` turns it into the group's ``"lr"``).  Frozen
    parameters (``requires_grad=False``) are in no group, and empty groups are left out.
    """
    named = list(model.named_parameters())
    if backbone_lr_ratio is None:
        return _decay_groups(named, weight_decay)
    head = [(n, p) for n, p in named if n.startswith(HEAD_PREFIX)]
    backbone = [(n, p) for n, p in named if not n.startswith(HEAD_PREFIX)]
    return [
        *_decay_groups(backbone, weight_decay, name="backbone", lr_ratio=backbone_lr_ratio),
        *_decay_groups(head, weight_decay, name="head", lr_ratio=1.0),
    ]


def _decay_groups(
    named: Iterable[tuple[str, nn.Parameter]], weight_decay: float, **extra: Any
) -> list[dict[str, Any]]:
    """The trainable parameters of ``named`` as a weight-decay group and a no-decay group."""
    decay, no_decay = [], []
    for name, p in named:
        if p.requires_grad:
            skip = p.dim() < 2 or name.endswith("relative_position_bias_table")
            (no_decay if skip else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay, **extra},
        {"params": no_decay, "weight_decay": 0.0, **extra},
    ]
    return [g for g in groups if g["params"]]


def adamw(
    model: nn.Module, lr: float, weight_decay: float, backbone_lr_ratio: float | None = None
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; each group's peak ``lr`` is ``lr * lr_ratio`` (the
    schedule then scales every group by the same factor, so the ratio holds at every step)."""
    groups = param_groups(model, weight_decay, backbone_lr_ratio)
    for group in groups:
        group["lr"] = lr * group.get("lr_ratio", 1.0)
    return torch.optim.AdamW(groups, lr=lr)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the peak lr after ``step`` steps: linear warm-up to 1, then a half cosine."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup: int, total: int, min_ratio: float = 0.0
) -> LambdaLR:
    """A ``LambdaLR`` (its state is just counters, so it checkpoints) for :func:`lr_factor`."""
    return LambdaLR(optimizer, partial(lr_factor, warmup=warmup, total=total, min_ratio=min_ratio))
