"""Chapter 11 exercises: the learning-rate schedule and label smoothing.

10.1  ``my_lr_factor(step, warmup, total)``: linear warm-up, then a half cosine to 0
      (:func:`vswin_edu.train.lr_factor`, the paper's schedule).
10.2  ``smoothed_cross_entropy(logits, labels, eps)``: cross-entropy with label smoothing,
      equal to ``F.cross_entropy(..., label_smoothing=eps)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._core import TODO, Mismatch, exercise

_SCHEDULES = ((10, 100), (0, 50), (3, 7))


def _progress(step: int, warmup: int, total: int) -> float:
    return min(1.0, (step - warmup) / max(1, total - warmup))


def _cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@exercise(
    "11.1",
    "Learning-rate factor: linear warm-up, then cosine decay",
    hints=[
        "During warm-up (step < warmup) the factor rises linearly and reaches 1 at the last warm-up "
        "step: (step + 1) / warmup — step 0 must not have lr 0, or the first update is wasted.",
        "After warm-up, progress p = (step - warmup) / (total - warmup) runs from 0 to 1 and the factor "
        "is 0.5 * (1 + cos(pi * p)): a *half* cosine from 1 down to 0 (clamp p at 1).",
    ],
    solution=(
        "def my_lr_factor(step, warmup, total):\n"
        "    if step < warmup:\n"
        "        return (step + 1) / warmup\n"
        "    progress = min(1.0, (step - warmup) / max(1, total - warmup))\n"
        "    return 0.5 * (1.0 + math.cos(math.pi * progress))"
    ),
)
def _check_lr_factor(my_lr_factor) -> list[str]:
    from ..train import lr_factor  # imported here: the training loop is not needed for other chapters

    for warmup, total in _SCHEDULES:
        for step in range(total + 2):
            expected = lr_factor(step, warmup, total)
            got = my_lr_factor(step, warmup, total)
            if got is TODO:
                raise Mismatch("Your function still returns TODO — fill it in, or try hint('11.1').")
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mismatch(f"Expected a float factor, got {got!r}.") from None
            if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9):
                continue
            case = (
                f"Tested warmup={warmup}, total={total}: at step {step} expected {expected:.4f}, "
                f"got {got:.4f}."
            )
            if step < warmup and math.isclose(got, step / warmup, abs_tol=1e-9):
                cause = "the warm-up starts at 0: use (step + 1) / warmup so step 0 already learns."
            elif step < warmup:
                cause = "during warm-up the factor rises linearly from 1/warmup to 1."
            elif got < -1e-9 or math.isclose(
                got, math.cos(math.pi * _progress(step, warmup, total)), abs_tol=1e-9
            ):
                cause = (
                    "cos(pi * p) runs from 1 to -1: the half cosine is 0.5 * (1 + cos(pi * p)), p in [0, 1]."
                )
            elif warmup and math.isclose(got, _cosine(min(1.0, step / total)), abs_tol=1e-9):
                cause = "the cosine must start after the warm-up: p = (step - warmup) / (total - warmup)."
            elif step >= total:
                cause = "after the last step the factor stays at 0: clamp the progress p at 1."
            else:
                cause = "after warm-up use 0.5 * (1 + cos(pi * (step - warmup) / (total - warmup)))."
            raise Mismatch(f"{case}\nLikely cause: {cause}")
    return ["Matches vswin_edu.train.lr_factor with and without warm-up, past the last step too."]


@exercise(
    "11.2",
    "Cross-entropy with label smoothing",
    hints=[
        "The smoothed target puts 1 - eps on the true class and spreads eps *uniformly over all K "
        "classes* (so the true class gets 1 - eps + eps/K). That is PyTorch's and the paper's convention.",
        "loss = mean over the batch of -(target * log_softmax(logits)).sum(-1). Use log_softmax, not "
        "log(softmax), for stability.",
    ],
    solution=(
        "def smoothed_cross_entropy(logits, labels, eps):\n"
        "    K = logits.shape[-1]\n"
        "    target = torch.full_like(logits, eps / K)\n"
        "    target[torch.arange(len(labels)), labels] += 1.0 - eps\n"
        "    return -(target * logits.log_softmax(-1)).sum(-1).mean()"
    ),
)
def _check_label_smoothing(smoothed_cross_entropy) -> list[str]:
    g = torch.Generator().manual_seed(10)
    logits = torch.randn(6, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    for eps in (0.0, 0.1, 0.3):
        expected = F.cross_entropy(logits, labels, label_smoothing=eps)
        got = smoothed_cross_entropy(logits.clone(), labels.clone(), eps)
        if got is TODO:
            raise Mismatch("Your function still returns TODO — fill it in, or try hint('11.2').")
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Mismatch(
                f"Tested logits (6, 5), eps={eps}: expected one scalar loss (mean over the batch), "
                f"got {shape}."
            )
        if torch.allclose(got.double(), expected, atol=1e-6):
            continue
        K = logits.shape[-1]
        other = torch.full_like(logits, eps / (K - 1))
        other[torch.arange(6), labels] = 1.0 - eps
        wrong_spread = -(other * logits.log_softmax(-1)).sum(-1).mean()
        summed = F.cross_entropy(logits, labels, label_smoothing=eps, reduction="sum")
        if torch.allclose(got.double(), wrong_spread, atol=1e-6):
            cause = (
                "you spread eps over the K-1 *other* classes; PyTorch (and the paper's recipe) spread it "
                "over all K classes, so the true class gets 1 - eps + eps/K."
            )
        elif torch.allclose(got.double(), summed, atol=1e-6):
            cause = "you summed over the batch: take the mean."
        else:
            cause = (
                "loss = -(target * log_softmax(logits)).sum(-1).mean() with target = (1-eps)*onehot + eps/K."
            )
        raise Mismatch(
            f"Tested random logits (6 clips, 5 classes) with eps={eps}: expected loss {expected.item():.6f}, "
            f"got {got.item():.6f}.\nLikely cause: {cause}"
        )
    return ["Equals F.cross_entropy(logits, labels, label_smoothing=eps) for eps = 0, 0.1, 0.3."]
