"""The training dashboard of a finished run (chapter 11): curves, confusion matrix, clips of a class.

* :func:`collect_predictions` — the model's top-1 prediction for every clip of a dataset.
* :func:`confusion_matrix` — counts of (true class, predicted class); the diagonal is what the
  model gets right, and on a time-reversed pair (left / right) the off-diagonal cell between the
  two partners is what a model blind to temporal order would fill.
* :func:`plot_confusion_matrix` — the matrix as a heat map with its counts.
* :func:`plot_training_dashboard` — learning curves, confusion matrix (one class outlined) and a few
  clips of that class as frame strips, each titled with its prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from torch import nn

from .. import style
from ._draw import suptitle
from .training import draw_curve

__all__ = ["collect_predictions", "confusion_matrix", "plot_confusion_matrix", "plot_training_dashboard"]

FRAMES_PER_CLIP = 8  # frames drawn per clip in the dashboard's strips
MAX_CLIPS = 4


@torch.no_grad()
def collect_predictions(model: nn.Module, dataset, batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(labels (N,), predictions (N,))`` of ``model`` (in eval mode) on every clip of ``dataset``.

    ``dataset[i]`` is ``(video (3, T, H, W), label)`` (e.g. :class:`vswin_edu.data.MovingShapes`);
    clips go to the model's device in batches of ``batch_size``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    n = len(dataset)
    if n == 0:
        raise ValueError("dataset is empty: nothing to predict")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    labels, predictions = [], []
    try:
        for start in range(0, n, batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, n))]
            videos = torch.stack([v for v, _ in items]).to(device)  # (b, 3, T, H, W)
            predictions.append(model(videos).argmax(-1).cpu())  # (b,)
            labels.append(torch.tensor([int(y) for _, y in items]))
    finally:
        model.train(was_training)
    return torch.cat(labels), torch.cat(predictions)


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``LongTensor (K, K)``: entry ``[i, j]`` counts clips of true class ``i`` predicted as ``j``."""
    labels, predictions = torch.as_tensor(labels).long(), torch.as_tensor(predictions).long()
    if labels.shape != predictions.shape or labels.dim() != 1:
        raise ValueError(
            f"labels and predictions must be 1D of the same length, got {tuple(labels.shape)} "
            f"and {tuple(predictions.shape)}"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    for name, t in (("labels", labels), ("predictions", predictions)):
        if t.numel() and not (0 <= int(t.min()) and int(t.max()) < num_classes):
            raise ValueError(f"{name} must be class indices in [0, {num_classes}), got values in "
                             f"[{int(t.min())}, {int(t.max())}]")  # fmt: skip
    flat = labels * num_classes + predictions  # (N,) cell index, row-major
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def _names(matrix: torch.Tensor, class_names: Sequence[str] | None) -> list[str]:
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be (K, K), got shape {tuple(matrix.shape)}")
    K = matrix.shape[0]
    names = [str(k) for k in range(K)] if class_names is None else [str(c) for c in class_names]
    if len(names) != K:
        raise ValueError(f"class_names must name the {K} classes of the matrix, got {len(names)}: {names}")
    return names


def _draw_confusion(
    fig: Figure, ax: Axes, matrix: torch.Tensor, names: list[str], selected: int | None
) -> None:
    K = len(names)
    counts = matrix.numpy()
    image = ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, int(counts.max())), interpolation="nearest")
    cmap, top = image.get_cmap(), max(1, int(counts.max()))
    if K <= 12:
        for i in range(K):
            for j in range(K):
                shade = cmap(counts[i, j] / top)
                luminance = 0.2126 * shade[0] + 0.7152 * shade[1] + 0.0722 * shade[2]
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize="small",
                        color="black" if luminance > 0.45 else "white")  # fmt: skip
    ax.set_xticks(range(K))
    ax.set_xticklabels(names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(K))
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if selected is not None:
        ax.add_patch(Rectangle((-0.5, selected - 0.5), K, 1, fill=False, edgecolor=style.QUERY_COLOR,
                               linewidth=3 * style.figure_scale(), clip_on=False))  # fmt: skip
    total = int(counts.sum())
    acc = float(counts.trace()) / total if total else float("nan")
    ax.set_title(f"confusion: {int(counts.trace())} of {total} right ({acc:.1%})")
    fig.colorbar(image, ax=ax, label="clips", shrink=0.85, ticks=MaxNLocator(integer=True))


def _figure(width: float, height: float) -> Figure:
    scale = style.figure_scale()
    fig = plt.figure(figsize=(width * scale, height * scale), layout="constrained")
    plt.close(fig)  # not kept by pyplot (like _draw.new_figure)
    return fig


def plot_confusion_matrix(
    matrix: torch.Tensor,
    class_names: Sequence[str] | None = None,
    selected: int | None = None,
    title: str = "",
) -> Figure:
    """The ``(K, K)`` confusion matrix (rows: true class, columns: predicted) with its counts.

    ``selected`` outlines one true class's row.  The colour bar gives the count a shade means.
    """
    matrix = torch.as_tensor(matrix)
    names = _names(matrix, class_names)
    K = len(names)
    fig = _figure(max(3.8, 0.55 * K + 2.6), max(3.2, 0.5 * K + 1.8))
    ax = fig.add_subplot()
    _draw_confusion(fig, ax, matrix, names, _class_index(selected, K))
    if title:
        suptitle(fig, title)
    return fig


def _class_index(selected: int | None, K: int) -> int | None:
    if selected is None:
        return None
    if isinstance(selected, bool) or not isinstance(selected, int) or not 0 <= selected < K:
        raise ValueError(f"selected must be a class index in [0, {K}), got {selected!r}")
    return selected


def _frame(clip: torch.Tensor, t: int):
    """Frame ``t`` of a ``(3, T, H, W)`` clip as an image in [0, 1], scaled over the whole clip."""
    low, high = clip.min(), clip.max()
    return ((clip[:, t] - low) / (high - low).clamp_min(1e-12)).permute(1, 2, 0).numpy()  # (H, W, 3)


def plot_training_dashboard(
    rows: Sequence[Mapping[str, Any]],
    matrix: torch.Tensor,
    class_names: Sequence[str] | None = None,
    selected: int | None = None,
    clips: Sequence[torch.Tensor] = (),
    clip_titles: Sequence[str] = (),
    title: str | None = None,
) -> Figure:
    """One run at a glance: loss, accuracy and confusion matrix on top, clips of a class below.

    Args:
        rows: the run's history (:func:`vswin_edu.train.fit`'s ``History.rows``).
        matrix: :func:`confusion_matrix` of the trained model on the validation set.
        class_names: the ``K`` class names (default ``0 .. K-1``).
        selected: the class whose row is outlined and whose clips are shown.
        clips: up to 4 clips ``(3, T, H, W)`` to draw as strips of 8 frames.
        clip_titles: one title per clip (e.g. "clip 12: predicted left").
        title: figure title (default: the final validation accuracy and the selected class).

    Returns:
        A figure with three axes on top (plus the colour bar) and up to 8 per clip below.
    """
    if isinstance(rows, Mapping) or not rows or not all(isinstance(r, Mapping) and "step" in r for r in rows):
        raise TypeError("rows must be a non-empty sequence of dicts with a 'step' key (History.rows)")
    matrix = torch.as_tensor(matrix)
    names = _names(matrix, class_names)
    k = _class_index(selected, len(names))
    clips = list(clips)
    if len(clips) > MAX_CLIPS:
        raise ValueError(f"clips: at most {MAX_CLIPS} clips fit the dashboard, got {len(clips)}")
    if clip_titles and len(clip_titles) != len(clips):
        raise ValueError(f"clip_titles must have one title per clip ({len(clips)}), got {len(clip_titles)}")
    for c in clips:
        if not isinstance(c, torch.Tensor) or c.dim() != 4 or c.shape[0] != 3:
            raise ValueError(f"every clip must be a (3, T, H, W) tensor, got {getattr(c, 'shape', type(c))}")
    fig = _figure(12.0, 3.6 + 1.75 * len(clips))
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.6, 1.75 * len(clips)]) if clips else (fig, None)
    axes = top.subplots(1, 3, width_ratios=[1, 1, 1.15])
    for ax, metric in zip(axes[:2], ("loss", "acc"), strict=True):
        draw_curve(ax, rows, metric)
        ax.set_title("loss" if metric == "loss" else "accuracy")
    _draw_confusion(top, axes[2], matrix, names, k)
    if bottom is not None:
        strips = bottom.subfigures(len(clips), 1) if len(clips) > 1 else [bottom]
        for n, (strip, clip) in enumerate(zip(strips, clips, strict=True)):
            T = clip.shape[1]
            frames = torch.linspace(0, T - 1, min(T, FRAMES_PER_CLIP)).round().long().tolist()
            cells = strip.subplots(1, len(frames))
            for ax, t in zip(cells if len(frames) > 1 else [cells], frames, strict=True):
                ax.imshow(_frame(clip.detach().float().cpu(), t), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_xlabel(f"t={t}")
            strip.suptitle(clip_titles[n] if clip_titles else f"clip {n}", fontsize="medium")
    final = rows[-1].get("val_acc")
    default = "training dashboard" if final is None else f"final validation accuracy {final:.1%}"
    if k is not None:
        default += f"; class {names[k]!r} outlined" + (", its clips below" if clips else "")
    suptitle(fig, title if title is not None else default)
    return fig
