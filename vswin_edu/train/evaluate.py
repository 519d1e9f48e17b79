"""Evaluation: top-1 accuracy and loss over a loader, and multi-view testing (paper Sec. 4.1:
4 temporal clips x 3 spatial crops on Kinetics, 1 x 3 on SSv2, scores averaged)."""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import average_scores, multi_view
from .distributed import all_sum

AMP_DTYPE = {"bf16": torch.bfloat16, "fp16": torch.float16}


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, device: torch.device | str | None = None, amp: str | None = None
) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and top-1 ``acc`` of ``model`` over ``loader`` (eval mode).

    Under ``torchrun`` each process passes its own shard and the sums are added over processes.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum = correct = count = 0.0
    autocast = torch.autocast(device.type, dtype=AMP_DTYPE[amp]) if amp else nullcontext()
    for video, label in loader:
        video, label = video.to(device, non_blocking=True), label.to(device, non_blocking=True)
        with autocast:
            logits = model(video)  # (B, K)
        loss_sum += F.cross_entropy(logits.float(), label, reduction="sum").item()
        correct += (logits.argmax(-1) == label).sum().item()
        count += label.numel()
    model.train(was_training)
    loss_sum, correct, count = all_sum([loss_sum, correct, count], device)
    if count == 0:  # a loss of 0.0 over no samples would read as a perfect model
        raise ValueError("evaluate: the loader yielded no samples (an empty validation set?)")
    return {"loss": loss_sum / count, "acc": correct / count, "count": int(count)}


@torch.no_grad()
def evaluate_multi_view(
    model: nn.Module,
    dataset: Dataset,
    num_clips: int = 4,
    num_crops: int = 3,
    clip_len: int = 32,
    stride: int = 2,
    crop: int = 224,
    mode: str = "softmax",
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Multi-view test accuracy: every whole video of ``dataset`` -> ``num_clips x num_crops`` views,
    scores averaged with :func:`vswin_edu.data.average_scores` (paper: 4 x 3 on K400, 1 x 3 on SSv2).

    Returns ``acc`` (averaged views) and ``view_acc`` (the mean accuracy of single views), so the
    gain of multi-view testing is the difference.  Runs in one process.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = view_correct = 0
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("evaluate_multi_view: the dataset is empty")
    for i in range(n):
        video, label = dataset[i]
        views = multi_view(
            video, num_clips, num_crops, clip_len, stride, crop
        )  # (V, 3, clip_len, crop, crop)
        logits = model(views.to(device)).float()  # (V, K)
        correct += int(average_scores(logits, mode).argmax(-1).item() == label)
        view_correct += int((logits.argmax(-1) == label).sum().item())
    model.train(was_training)
    views_per_video = num_clips * num_crops
    return {"acc": correct / max(n, 1), "view_acc": view_correct / max(n * views_per_video, 1), "count": n}
