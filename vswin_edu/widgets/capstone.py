"""Mistake explorer (chapter 10): plant one known mistake in a model and watch where it diverges.

Pick a mistake of COURSE.md's list (flipped shift sign, inverted mask, wrong index multipliers, pad
after roll, wrong merge order — :data:`vswin_edu.capstone.KNOWN_WRONG`) or your own parts: the model
built with it by :func:`vswin_edu.capstone.build_model` is compared layer by layer with the reference
(:func:`vswin_edu.capstone.compare`) and drawn as a heat strip (:func:`vswin_edu.viz.plot_layer_diffs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn

from ..capstone import KNOWN_WRONG, Comparison, build_model, compare
from ..viz.capstone import plot_layer_diffs
from ._base import VizWidget, dropdown

__all__ = ["MistakeExplorer"]

CORRECT = "none (the library's parts)"
YOURS = "your parts"


class MistakeExplorer(VizWidget):
    """A dropdown of known mistakes -> the layer-by-layer comparison of that model with ``reference``.

    Args:
        reference: the model to match (torchvision's ``SwinTransformer3d`` or ours); its weights are loaded
            into every model built here.
        video: the clip ``(B, 3, T, H, W)`` both models see.
        parts: your parts (a :class:`~vswin_edu.capstone.Parts` or mapping), the choice "your parts".
        preset, overrides: the architecture of ``reference`` (:func:`vswin_edu.capstone.build_model`).

    ``state`` holds the control ``mistake`` and ``comparison`` (the :class:`~vswin_edu.capstone.Comparison`),
    ``first_divergence``, ``logits_max_abs`` and ``replaced`` (the parts the choice replaces).  Each choice's
    comparison runs once, when it is first chosen.
    """

    title = "Mistake explorer: one wrong part, and where the model first diverges"

    def __init__(
        self,
        reference: nn.Module,
        video: torch.Tensor,
        *,
        parts: Mapping[str, Callable | None] | Any = None,
        preset: str = "micro",
        strict: bool = True,
        **overrides: Any,
    ) -> None:
        self.reference, self.video, self.preset, self.overrides = reference, video, preset, overrides
        self.choices: dict[str, Any] = {CORRECT: None, **KNOWN_WRONG}
        if parts is not None:
            self.choices[YOURS] = parts
        self._cache: dict[str, Comparison] = {}
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        return {"mistake": dropdown("mistake", list(self.choices), CORRECT)}

    def comparison(self, choice: str) -> Comparison:
        """The comparison of the model with ``choice``'s parts (computed once, then cached)."""
        if choice not in self._cache:
            model = build_model(
                self.choices[choice], preset=self.preset, weights=self.reference, **self.overrides
            )
            self._cache[choice] = compare(model.eval(), self.reference, self.video)
        return self._cache[choice]

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        choice = values["mistake"]
        table = self.comparison(choice)
        parts = self.choices[choice]
        replaced = sorted(parts) if isinstance(parts, Mapping) else ([] if parts is None else ["your parts"])
        fig = plot_layer_diffs({choice: table})
        return fig, {
            "comparison": table,
            "first_divergence": table.first_divergence,
            "logits_max_abs": table["head"].max_abs,
            "replaced": replaced,
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        replaced = ", ".join(state["replaced"]) or "nothing"
        first = state["first_divergence"]
        lines = [f"{state['mistake']}: replaces {replaced}"]
        lines.append(f"first divergence: {first}" if first else "every layer is close to the reference")
        lines.append(f"max |Δ| of the logits: {state['logits_max_abs']:.1e}")
        lines += state["comparison"].errors
        return lines
