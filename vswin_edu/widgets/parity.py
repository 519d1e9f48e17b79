"""Layer-by-layer parity explorer (chapter 9): our model beside torchvision's, one layer at a time.

Pick a clip and a layer (patch embedding, a block, a patch merging, the final norm, the head): the
figure marks the layer among all layers' ``max |ours - torchvision|`` and maps its difference over
the token grid; the readout gives both module names, the input and output shapes, the block's
effective window and shift and whether the outputs agree (:func:`vswin_edu.viz.compare_layers`,
:func:`vswin_edu.viz.plot_layer_parity`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn

from ..viz.parity import PARITY_TOL, LayerParity, compare_layers, layer_pairs, plot_layer_parity
from ._base import VizWidget, dropdown

__all__ = ["LayerParityExplorer"]


def _shape(s) -> str:
    return "x".join(map(str, s))


class LayerParityExplorer(VizWidget):
    """Clip and layer -> shapes, window, shift and ``max |Δ|`` of that layer against torchvision.

    Args:
        ours: a :class:`vswin_edu.model.VideoSwinTransformer`.
        tv: torchvision's ``SwinTransformer3d`` with the same weights
            (``load_state_dict_strict(ours, from_torchvision(tv))``).
        videos: one clip ``(B, 3, T, H, W)`` or ``{name: clip}`` to choose from; each clip's
            comparison runs once, when it is first chosen.
        precomputed: ``{name: compare_layers(ours, tv, videos[name])}`` already run (e.g. for the
            static figure beside the widget), so the widget does not run them again.

    ``state`` holds the controls (``clip``, ``layer``: our module name) and ``record`` (the
    :class:`~vswin_edu.viz.LayerParity`), ``tv_name``, ``in_shape``, ``out_shape``, ``window``,
    ``shift``, ``max_abs_diff``, ``exact``, ``agree`` (layers of the clip that agree) and
    ``first_difference`` (label of the first layer that does not, or ``None``).
    """

    title = "Parity explorer: our model and torchvision's, layer by layer"

    def __init__(
        self,
        ours: nn.Module,
        tv: nn.Module,
        videos: torch.Tensor | Mapping[str, torch.Tensor],
        precomputed: Mapping[str, list[LayerParity]] | None = None,
        *,
        strict: bool = True,
    ) -> None:
        if isinstance(videos, torch.Tensor):
            videos = {_shape(videos.shape[2:]): videos}
        if not isinstance(videos, Mapping) or not videos:
            raise TypeError("videos must be a clip (B, 3, T, H, W) or a non-empty {name: clip} dict")
        self.ours, self.tv, self.videos = ours, tv, dict(videos)
        self._pairs = layer_pairs(ours)
        unknown = sorted(set(precomputed or {}) - set(self.videos))
        if unknown:
            raise ValueError(
                f"precomputed names clips {unknown} that are not in videos {sorted(self.videos)}"
            )
        self._cache: dict[str, list[LayerParity]] = dict(precomputed or {})
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        layers = [(label, name) for name, _, label, _ in self._pairs]
        names = list(self.videos)
        return {
            "clip": dropdown("clip", names, names[0]),
            "layer": dropdown("layer", layers, layers[1][1]),  # the first block
        }

    def records(self, clip: str) -> list[LayerParity]:
        """The comparison of every layer on clip ``clip`` (computed once, then cached)."""
        if clip not in self._cache:
            self._cache[clip] = compare_layers(self.ours, self.tv, self.videos[clip])
        return self._cache[clip]

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        records = self.records(values["clip"])
        names = [r.name for r in records]
        record = records[names.index(values["layer"])]
        first = next((r.label for r in records if not r.exact), None)
        fig = plot_layer_parity(records, selected=values["layer"])
        return fig, {
            "record": record,
            "tv_name": record.tv_name,
            "in_shape": record.in_shape,
            "out_shape": record.out_shape,
            "window": record.window,
            "shift": record.shift,
            "max_abs_diff": record.max_abs_diff,
            "exact": record.exact,
            "agree": sum(r.exact for r in records),
            "first_difference": first,
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        record = state["record"]
        lines = [
            f"{record.label}: ours {record.name} = torchvision {record.tv_name}",
            f"input {_shape(record.in_shape)} -> output {_shape(record.out_shape)}",
        ]
        if record.window is not None:
            lines.append(f"effective window {record.window}, shift {record.shift}")
        verdict = "agree" if record.exact else "DIFFER"
        lines.append(
            f"max |ours - torchvision| = {record.max_abs_diff:.2e}: {verdict} (tolerance {PARITY_TOL:g})"
        )
        total = len(self._pairs)
        first = state["first_difference"]
        lines.append(
            f"{state['agree']} of {total} layers agree"
            + (f"; the first that differs: {first}" if first else "; every layer agrees")
        )
        return lines
