"""Attention-map viewer: what a trained head of any layer attends to over the frames (chapter 12).

Pick a layer (stage and block; odd blocks use shifted windows), a head and a query token of that
stage's grid; the viewer overlays the query's attention weights on the clip's frames
(:func:`vswin_edu.viz.collect_attention`, :func:`vswin_edu.viz.attention_grid`,
:func:`vswin_edu.viz.plot_attention_over_frames`).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ..viz.attention_maps import attention_grid, collect_attention, plot_attention_over_frames
from ._base import VizWidget, dropdown, int_slider, set_range

__all__ = ["AttentionMapViewer"]


class AttentionMapViewer(VizWidget):
    """Layer, head and query token -> the query's attention over the clip.

    Args:
        model: a :class:`vswin_edu.model.VideoSwinTransformer` (put in eval mode).
        video: one clip ``(1, 3, T, H, W)``.

    ``state`` holds the controls (``layer`` as ``(stage, block)``, ``head``, ``t``, ``h``, ``w``) and
    ``grid`` (the stage's token grid), ``window``/``shift`` (effective), ``attention`` (the head's
    ``(D, H, W)`` map) and ``mass_in_query_frame`` (the share of weight on the query's own frame).
    """

    title = "Attention maps: layer, head, query token"

    def __init__(self, model, video: torch.Tensor, *, strict: bool = True) -> None:
        if video.dim() != 5 or video.shape[0] != 1:
            raise ValueError(f"video must be one clip (1, 3, T, H, W), got shape {tuple(video.shape)}")
        self.model, self.video = model.eval(), video
        self._cache: dict[tuple[int, int], tuple] = {}
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        layers = [
            (f"stage {i + 1}, block {j + 1} ({'SW' if j % 2 else 'W'}-MSA)", (i, j))
            for i, stage in enumerate(self.model.stages)
            for j in range(len(stage.blocks))
        ]
        return {
            "layer": dropdown("layer", layers, layers[0][1]),
            "head": int_slider("head", 0, 0, self.model.stages[0].blocks[0].attn.num_heads - 1),
            "t": int_slider("query t", 0, 0, 0),
            "h": int_slider("query h", 0, 0, 0),
            "w": int_slider("query w", 0, 0, 0),
        }

    def _layer(self, layer: tuple[int, int]) -> tuple:
        if layer not in self._cache:  # one forward per layer, reused when head or query change
            self._cache[layer] = collect_attention(self.model, self.video, *layer)
        return self._cache[layer]

    def sync(self) -> None:
        weights, dhw, _, _ = self._layer(self.controls["layer"].value)
        set_range(self.controls["head"], weights.shape[1] - 1)
        for name, n in zip("thw", dhw, strict=True):
            set_range(self.controls[name], n - 1)

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        stage, block = values["layer"]
        weights, dhw, window, shift = self._layer(values["layer"])
        query = (values["t"], values["h"], values["w"])
        attn = attention_grid(weights, dhw, window, shift, query)[values["head"]]  # (D, H, W)
        patch = self.model.config.patch_size
        title = (
            f"stage {stage + 1}, block {block + 1}, head {values['head']}: query {query} on a "
            f"{dhw[0]}x{dhw[1]}x{dhw[2]} grid, window {window}, shift {shift}"
        )
        fig = plot_attention_over_frames(self.video, attn, query, patch, title=title)
        mass = float(attn[query[0]].sum())
        return fig, {
            "grid": dhw,
            "window": window,
            "shift": shift,
            "attention": attn,
            "mass_in_query_frame": mass,
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        return [
            f"grid {state['grid']}, effective window {state['window']}, shift {state['shift']}",
            f"weight on the query's own frame: {state['mass_in_query_frame']:.2f} "
            f"(the rest goes to other frames of its window)",
        ]
