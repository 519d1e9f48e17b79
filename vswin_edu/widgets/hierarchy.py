"""Shape tracer: a clip's shape through every stage of Swin-T/S/B/L or the micro model (chapter 8).

Pick a variant, the number of frames and the resolution; the tracer shows, per stage, the token
grid, channels, heads, effective window and shift (clamped when the grid is not larger than the
window), windows per clip, parameters and MACs (:func:`vswin_edu.complexity.stage_table`), drawn by
:func:`vswin_edu.viz.plot_hierarchy`.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..complexity import model_macs, model_params, stage_table
from ..config import PRESETS
from ..viz.hierarchy import plot_hierarchy
from ._base import VizWidget, dropdown, int_slider

__all__ = ["ShapeTracer"]

VARIANTS = {"Swin-T": "t", "Swin-S": "s", "Swin-B": "b", "Swin-L": "l", "micro": "micro"}


class ShapeTracer(VizWidget):
    """Variant, frames and resolution -> shapes, windows, parameters and MACs of every stage.

    ``state`` holds the controls (``variant``, ``frames``, ``resolution``) and ``rows``
    (:class:`vswin_edu.complexity.StageInfo` per stage), ``params`` and ``macs`` of the whole model.
    """

    title = "Shape tracer: a clip through the four stages"

    def __init__(
        self, variant: str = "Swin-T", frames: int = 32, resolution: int = 224, *, strict: bool = True
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        self._initial = (variant, frames, resolution)
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        variant, frames, resolution = self._initial
        controls = {
            "variant": dropdown("variant", list(VARIANTS), variant),
            "frames": int_slider("frames T", frames, 2, 96),
            "resolution": int_slider("H = W (px)", resolution, 32, 448),
        }
        controls["frames"].step, controls["resolution"].step = 2, 16
        return controls

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        name, T, S = values["variant"], values["frames"], values["resolution"]
        config = PRESETS[VARIANTS[name]]
        rows = stage_table(config, (T, S, S))
        params, macs = model_params(config), model_macs(config, (T, S, S))
        title = f"{name} on a {T}x{S}x{S} clip: {params / 1e6:.1f}M parameters, {macs / 1e9:.1f} GMACs"
        return plot_hierarchy(rows, title=title), {"rows": rows, "params": params, "macs": macs}

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        lines = [f"{state['params'] / 1e6:.2f}M parameters, {state['macs'] / 1e9:.2f} GMACs per clip"]
        for r in state["rows"]:
            grid, window, shift = ("x".join(map(str, v)) for v in (r.grid, r.window, r.shift))
            lines.append(
                f"stage {r.stage}: grid {grid}, C={r.channels}, {r.heads} heads, window {window}, "
                f"shift {shift}, {r.num_windows} windows, {r.params / 1e6:.3f}M params, "
                f"{r.macs / 1e9:.2f} GMACs"
            )
        return lines
