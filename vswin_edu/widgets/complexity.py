"""Attention cost explorer: clip size and window -> global vs window MACs and memory (chapter 2).

Move the frames/height/width sliders and watch the number of tokens ``L`` grow; the readout gives
one layer's MACs (:func:`vswin_edu.complexity.msa_macs` / :func:`~vswin_edu.complexity.wmsa_macs`)
and the memory of its attention weights, and the figure (:func:`vswin_edu.viz.plot_attention_cost`)
marks ``L`` on the L² and L curves.
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..complexity import attention_matrix_bytes, msa_macs, wmsa_macs
from ..viz.complexity import plot_attention_cost
from ..windows import effective_window, num_windows
from ._base import VizWidget, dropdown, int_slider

__all__ = ["AttentionCostExplorer"]

PATCH = (2, 4, 4)
HEAD_DIM = 32  # the paper's heads all have 32 channels: nH = C / 32


class AttentionCostExplorer(VizWidget):
    """Frames, height, width, channels and window ``P x M x M`` -> the cost of one attention layer.

    ``state`` holds the controls (``frames``, ``height``, ``width``, ``channels``, ``P``, ``M``) and
    ``grid`` (tokens ``D, H, W``), ``L``, ``window`` (effective), ``N``, ``num_windows``,
    ``L_padded`` (window attention runs on the padded grid), ``heads``, ``msa_macs``,
    ``wmsa_macs``, ``ratio`` and the fp32 attention-weight memory ``msa_bytes`` / ``wmsa_bytes``.
    """

    title = "Attention cost: global vs window, one layer"

    def __init__(
        self,
        frames: int = 32,
        height: int = 224,
        width: int = 224,
        channels: int = 96,
        window: tuple[int, int] = (8, 7),
        *,
        strict: bool = True,
    ) -> None:
        self._initial = (frames, height, width, channels, window)
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        frames, height, width, channels, (P, M) = self._initial
        controls = {
            "frames": int_slider("frames T", frames, 2, 96),
            "height": int_slider("height H", height, 16, 448),
            "width": int_slider("width W", width, 16, 448),
            "channels": dropdown("C", [96, 128, 192], channels),
            "P": int_slider("window P", P, 1, 16),
            "M": int_slider("window M", M, 1, 14),
        }
        controls["frames"].step = 2
        controls["height"].step = controls["width"].step = 16
        return controls

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        thw = (values["frames"], values["height"], values["width"])
        grid = tuple(-(-n // p) for n, p in zip(thw, PATCH, strict=True))  # ceil: PatchEmbed3D pads
        window, _ = effective_window(grid, (values["P"], values["M"], values["M"]), (0, 0, 0))
        L, N, C = math.prod(grid), math.prod(window), values["channels"]
        n_windows = num_windows(grid, window)
        heads = C // HEAD_DIM
        results = {
            "grid": grid,
            "L": L,
            "window": window,
            "N": N,
            "num_windows": n_windows,
            "L_padded": n_windows * N,
            "heads": heads,
            "msa_macs": msa_macs(L, C),
            "wmsa_macs": wmsa_macs(n_windows * N, C, N),
            "msa_bytes": attention_matrix_bytes(L, None, heads),
            "wmsa_bytes": attention_matrix_bytes(n_windows * N, N, heads),
        }
        results["ratio"] = results["msa_macs"] / results["wmsa_macs"]
        return plot_attention_cost(C=C, N=N, num_heads=heads, mark=L), results

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        D, H, W = state["grid"]
        gib = 2**30
        return [
            f"tokens L = {D} x {H} x {W} = {state['L']:,}",
            f"window (effective) {' x '.join(map(str, state['window']))} = {state['N']} tokens, "
            f"{state['num_windows']} windows",
            f"global MSA, one layer: {state['msa_macs'] / 1e9:,.2f} GMACs, "
            f"attention weights {state['msa_bytes'] / gib:,.3f} GiB",
            f"window W-MSA, one layer: {state['wmsa_macs'] / 1e9:,.2f} GMACs, "
            f"attention weights {state['wmsa_bytes'] / gib:,.3f} GiB",
            f"global / window: {state['ratio']:,.1f}x the MACs, "
            f"{state['msa_bytes'] / state['wmsa_bytes']:,.1f}x the memory",
        ]
