"""Shape tracer: a clip's shape through every stage of Swin-T/S/B/L or the micro model (chapter 8).

Pick a variant, the number of frames and the resolution; the tracer shows, per stage, the token
grid, channels, heads, effective window and shift (clamped when the grid is smaller than the
window), windows per clip, parameters and MACs (:func:`vswin_edu.complexity.stage_table`), drawn by
:func:`vswin_edu.viz.plot_hierarchy`.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
from matplotlib.figure import Figure

from .. import style
from ..complexity import model_macs, model_params, stage_table
from ..model import PRESETS
from ..viz.hierarchy import plot_hierarchy

__all__ = ["ShapeTracer"]

VARIANTS = {"Swin-T": "t", "Swin-S": "s", "Swin-B": "b", "Swin-L": "l", "micro": "micro"}


def figure_png(fig: Figure) -> bytes:
    """PNG bytes of a figure (what an ``ipywidgets.Image`` shows)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def stage_rows_html(rows) -> str:
    """An HTML table of the stage rows (the tracer's readout)."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ("stage", "D x H x W", "C", "heads", "window", "shift", "nW", "params", "GMACs")
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{v}</td>"
            for v in (
                r.stage,
                "x".join(map(str, r.grid)),
                r.channels,
                r.heads,
                "x".join(map(str, r.window)),
                "x".join(map(str, r.shift)),
                r.num_windows,
                f"{r.params / 1e6:.3f}M",
                f"{r.macs / 1e9:.2f}",
            )
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


class ShapeTracer:
    """Variant, frames and resolution -> shapes, windows, parameters and MACs of every stage.

    ``state`` holds ``variant``, ``video_thw``, ``rows`` (StageInfo per stage), ``params`` and
    ``macs`` of the whole model; ``table`` is the HTML readout and ``image`` the figure as PNG.
    """

    def __init__(self, variant: str = "Swin-T", frames: int = 32, resolution: int = 224, strict: bool = True):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        self.strict = strict
        self.controls = {
            "variant": widgets.Dropdown(options=list(VARIANTS), value=variant, description="variant"),
            "frames": widgets.IntSlider(value=frames, min=2, max=96, step=2, description="frames T"),
            "resolution": widgets.IntSlider(
                value=resolution, min=32, max=448, step=16, description="H = W (px)"
            ),
        }
        self.state: dict = {}
        self.figure: Figure | None = None
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=style.widget_width()))
        self.table = widgets.HTML()
        self.error = widgets.HTML()
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.widget = widgets.VBox(
            [widgets.HBox(list(self.controls.values())), self.table, self.image, self.error]
        )
        self.update()

    def _on_change(self, _change) -> None:
        try:
            self.update()
        except Exception as err:
            self.error.value = f"<b style='color:#CC3311'>{type(err).__name__}: {err}</b>"
            if self.strict:
                raise

    def update(self) -> None:
        """Recompute the trace from the controls and redraw."""
        name = self.controls["variant"].value
        T, S = self.controls["frames"].value, self.controls["resolution"].value
        config = PRESETS[VARIANTS[name]]
        rows = stage_table(config, (T, S, S))
        self.state = {
            "variant": name,
            "video_thw": (T, S, S),
            "rows": rows,
            "params": model_params(config),
            "macs": model_macs(config, (T, S, S)),
        }
        self.table.value = stage_rows_html(rows)
        self.figure = plot_hierarchy(
            rows,
            title=f"{name} on a {T}x{S}x{S} clip: {self.state['params'] / 1e6:.1f}M parameters, "
            f"{self.state['macs'] / 1e9:.1f} GMACs",
        )
        self.image.value = figure_png(self.figure)
        self.error.value = ""
