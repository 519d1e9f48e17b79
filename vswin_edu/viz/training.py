"""Learning curves of a training run (chapter 11): loss and accuracy against optimizer steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._draw import new_figure, suptitle

__all__ = ["plot_learning_curves"]


def draw_curve(ax: Axes, rows: Sequence[Mapping[str, Any]], metric: str) -> None:
    """Draw the train and validation curves of ``metric`` (``"loss"`` or ``"acc"``) on ``ax``
    (shared with the training dashboard of :mod:`vswin_edu.viz.dashboard`)."""
    for split, style in (("train", "-o"), ("val", "-s")):
        points = [(r["step"], r[f"{split}_{metric}"]) for r in rows if r.get(f"{split}_{metric}") is not None]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, style, markersize=3, label=split)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy" if metric == "loss" else "top-1 accuracy")
    if metric == "acc":
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()


def plot_learning_curves(rows: Sequence[Mapping[str, Any]], title: str | None = None) -> Figure:
    """Loss (left) and accuracy (right) of the train and validation sets against the step.

    Args:
        rows: the history of :func:`vswin_edu.train.fit` (``History.rows`` or ``metrics.json``'s
            ``rows``): dicts with ``step`` and any of ``train_loss``, ``val_loss``, ``train_acc``,
            ``val_acc`` (missing or ``None`` values are skipped).
        title: figure title (default: the final validation accuracy, if any).

    Returns:
        A figure with two axes.
    """
    if isinstance(rows, Mapping) or not all(isinstance(r, Mapping) and "step" in r for r in rows):
        raise TypeError("rows must be a sequence of dicts with a 'step' key (History.rows)")
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    fig, axes = new_figure(1, 2, (4.2, 3.2))
    for ax, metric in zip(axes[0], ("loss", "acc"), strict=True):
        draw_curve(ax, rows, metric)
    final = rows[-1].get("val_acc")
    default = f"final validation accuracy {final:.1%}" if final is not None else "learning curves"
    suptitle(fig, title if title is not None else default)
    fig.tight_layout()
    return fig
