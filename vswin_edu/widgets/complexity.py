"""Attention cost explorer: clip size and window -> global vs window MACs and memory (chapter 2).

Move the frames/height/width sliders and watch the number of tokens ``L`` grow; the readout gives
one layer's MACs (:func:`vswin_edu.complexity.msa_macs` / :func:`~vswin_edu.complexity.wmsa_macs`)
and the memory of its attention weights, and the figure (:func:`vswin_edu.viz.plot_attention_cost`)
marks ``L`` on the L² and L curves.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
from matplotlib.figure import Figure

from .. import style
from ..complexity import attention_matrix_bytes, msa_macs, wmsa_macs
from ..viz.complexity import plot_attention_cost
from ..windows import effective_window, num_windows
from .hierarchy import figure_png

__all__ = ["AttentionCostExplorer"]

PATCH = (2, 4, 4)
HEAD_DIM = 32  # the paper's heads all have 32 channels: nH = C / 32


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:,.3f} GiB"


class AttentionCostExplorer:
    """Frames, height, width, channels and window ``P x M x M`` -> the cost of one attention layer.

    ``state`` holds ``video_thw``, ``grid`` (tokens ``D, H, W``), ``L``, ``window`` (effective),
    ``N``, ``num_windows``, ``L_padded`` (window attention runs on the padded grid), ``C``,
    ``heads``, ``msa_macs``, ``wmsa_macs``, ``ratio`` and the attention-weight memory
    ``msa_bytes`` / ``wmsa_bytes`` (fp32).  ``readout`` is the HTML table, ``image`` the figure as PNG.
    """

    def __init__(
        self,
        frames: int = 32,
        height: int = 224,
        width: int = 224,
        channels: int = 96,
        window: tuple[int, int] = (8, 7),
        strict: bool = True,
    ):
        self.strict = strict
        self.controls = {
            "frames": widgets.IntSlider(value=frames, min=2, max=96, step=2, description="frames T"),
            "height": widgets.IntSlider(value=height, min=16, max=448, step=16, description="height H"),
            "width": widgets.IntSlider(value=width, min=16, max=448, step=16, description="width W"),
            "channels": widgets.Dropdown(options=[96, 128, 192], value=channels, description="C"),
            "P": widgets.IntSlider(value=window[0], min=1, max=16, description="window P"),
            "M": widgets.IntSlider(value=window[1], min=1, max=14, description="window M"),
        }
        self.state: dict = {}
        self.figure: Figure | None = None
        self.readout = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=style.widget_width()))
        self.error = widgets.HTML()
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        names = list(self.controls.values())
        self.widget = widgets.VBox(
            [
                widgets.HBox([widgets.VBox(names[:3]), widgets.VBox(names[3:])]),
                self.readout,
                self.image,
                self.error,
            ]
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
        """Recompute the costs from the controls and redraw."""
        c = {name: control.value for name, control in self.controls.items()}
        thw = (c["frames"], c["height"], c["width"])
        grid = tuple(-(-n // p) for n, p in zip(thw, PATCH, strict=True))  # ceil: PatchEmbed3D pads
        window, _ = effective_window(grid, (c["P"], c["M"], c["M"]), (0, 0, 0))
        L, N, C = math.prod(grid), math.prod(window), c["channels"]
        n_windows = num_windows(grid, window)
        heads = C // HEAD_DIM
        s = {
            "video_thw": thw,
            "grid": grid,
            "L": L,
            "window": window,
            "N": N,
            "num_windows": n_windows,
            "L_padded": n_windows * N,
            "C": C,
            "heads": heads,
            "msa_macs": msa_macs(L, C),
            "wmsa_macs": wmsa_macs(n_windows * N, C, N),
            "msa_bytes": attention_matrix_bytes(L, None, heads),
            "wmsa_bytes": attention_matrix_bytes(n_windows * N, N, heads),
        }
        s["ratio"] = s["msa_macs"] / s["wmsa_macs"]
        self.state = s
        self.readout.value = self._table(s)
        self.figure = plot_attention_cost(C=C, N=N, num_heads=heads, mark=L)
        self.image.value = figure_png(self.figure)
        self.error.value = ""

    @staticmethod
    def _table(s: dict) -> str:
        D, H, W = s["grid"]
        rows = [
            ("tokens L", f"{D} x {H} x {W} = {s['L']:,}"),
            (
                "window (effective)",
                f"{' x '.join(map(str, s['window']))} = {s['N']} tokens, {s['num_windows']} windows",
            ),
            ("global MSA, one layer", f"{s['msa_macs'] / 1e9:,.2f} GMACs, weights {_gib(s['msa_bytes'])}"),
            (
                "window W-MSA, one layer",
                f"{s['wmsa_macs'] / 1e9:,.2f} GMACs, weights {_gib(s['wmsa_bytes'])}",
            ),
            (
                "global / window",
                f"{s['ratio']:,.1f}x the MACs, {s['msa_bytes'] / s['wmsa_bytes']:,.1f}x the memory",
            ),
        ]
        body = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"
