"""Training dashboard (chapter 11): the stored run's curves, its confusion matrix, clips of a class.

Built from a finished run — its history rows, the trained model and the validation set — so it
costs one pass over the validation clips, once.  Pick a class: its row of the confusion matrix is
outlined and a few of its clips are drawn as frame strips, each titled with what the model
predicted; "mistakes only" shows the clips the model got wrong (:func:`vswin_edu.viz.collect_predictions`,
:func:`vswin_edu.viz.confusion_matrix`, :func:`vswin_edu.viz.plot_training_dashboard`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure
from torch import nn

from ..viz.dashboard import MAX_CLIPS, collect_predictions, confusion_matrix, plot_training_dashboard
from ._base import VizWidget, dropdown, int_slider, toggle

__all__ = ["TrainingDashboard"]


class TrainingDashboard(VizWidget):
    """Class, number of clips and "mistakes only" -> curves, confusion matrix and that class's clips.

    Args:
        rows: the run's history (``History.rows`` of :func:`vswin_edu.train.fit`).
        model: the trained model.
        dataset: the validation set (``dataset[i] -> (video (3, T, H, W), label)``).
        class_names: the class names (default: ``dataset.class_names``).

    ``state`` holds the controls (``cls``: a class index, ``clips``, ``mistakes``) and ``matrix``
    (the ``(K, K)`` confusion matrix), ``accuracy`` (its diagonal share), ``final_val_acc`` (the
    history's last ``val_acc``), ``class_total`` and ``class_correct`` (clips of the class, and how
    many are right), ``confused_with`` (the class most often predicted instead, or ``None``) and
    ``shown`` (dataset indices of the clips drawn) with ``shown_predictions``.
    """

    title = "Training dashboard: curves, confusion matrix and the clips of one class"

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        model: nn.Module,
        dataset,
        class_names: Sequence[str] | None = None,
        *,
        strict: bool = True,
    ) -> None:
        if isinstance(rows, Mapping) or not rows:
            raise TypeError("rows must be the non-empty history of a run (History.rows)")
        names = list(class_names if class_names is not None else getattr(dataset, "class_names", ()))
        if not names:
            raise ValueError("class_names must be given when the dataset has no class_names")
        self.rows, self.dataset, self.class_names = list(rows), dataset, [str(n) for n in names]
        self.labels, self.predictions = collect_predictions(model, dataset)  # (N,), (N,)
        self.matrix = confusion_matrix(self.labels, self.predictions, len(self.class_names))  # (K, K)
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        options = [(name, k) for k, name in enumerate(self.class_names)]
        return {
            "cls": dropdown("class", options, 0),
            "clips": int_slider("clips", 3, 1, MAX_CLIPS),
            "mistakes": toggle("mistakes only", False),
        }

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        k, count = values["cls"], values["clips"]
        mine = (self.labels == k).nonzero().flatten().tolist()  # dataset indices of the class
        wrong = [i for i in mine if int(self.predictions[i]) != k]
        shown = (wrong if values["mistakes"] else mine)[:count]
        predicted = [self.class_names[int(self.predictions[i])] for i in shown]
        titles = [
            f"clip {i}: predicted {p}" + ("" if p == self.class_names[k] else " (wrong)")
            for i, p in zip(shown, predicted, strict=True)
        ]
        clips = [self.dataset[i][0] for i in shown]
        fig = plot_training_dashboard(self.rows, self.matrix, self.class_names, k, clips, titles)
        row = self.matrix[k].clone()
        row[k] = 0  # off-diagonal: the classes this one is mistaken for
        total = int(self.matrix.sum())
        return fig, {
            "matrix": self.matrix,
            "accuracy": float(self.matrix.trace()) / total if total else float("nan"),
            "final_val_acc": self.rows[-1].get("val_acc"),
            "class_total": len(mine),
            "class_correct": len(mine) - len(wrong),
            "confused_with": self.class_names[int(row.argmax())] if int(row.max()) > 0 else None,
            "shown": shown,
            "shown_predictions": predicted,
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        name = self.class_names[state["cls"]]
        lines = [
            f"class {name!r}: {state['class_correct']} of {state['class_total']} validation clips right"
            + (f", most often mistaken for {state['confused_with']!r}" if state["confused_with"] else ""),
            f"whole validation set: {state['accuracy']:.1%} right"
            + (
                f" (history's final val_acc {state['final_val_acc']:.1%})"
                if state["final_val_acc"] is not None
                else ""
            ),
        ]
        if state["mistakes"] and not state["shown"]:
            lines.append(f"no mistakes on {name!r}: nothing to show")
        else:
            lines.append(f"clips shown: {state['shown']}")
        return lines
