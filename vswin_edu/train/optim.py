"""The optimiser recipe of the paper (Sec. 4.1): AdamW without weight decay on norms, biases and
relative-position bias tables, and a cosine learning-rate schedule after a linear warm-up."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only: not on norms, biases or relative-position bias tables
    (as the official code: decaying the bias table would pull every offset's bias to zero)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            skip = p.dim() < 2 or name.endswith("relative_position_bias_table")
            (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


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
