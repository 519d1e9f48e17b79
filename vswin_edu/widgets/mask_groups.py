"""Mask-group explorer (appendix 14): how many distinct masks does a shifted block really need?

Pick a token grid, a window ``P x M x M`` and which axes the SW-MSA block shifts: the grid is padded
to window multiples and rolled as in the block, and every window is coloured by its mask pattern
(:func:`vswin_edu.viz.plot_mask_groups`).  The readout compares one ``(N, N)`` mask per window with
one per group — what the fast route (:mod:`vswin_edu.fast`) keeps instead.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..viz.mask_groups import mask_group_ids, plot_mask_groups
from ..windows import effective_window, pad_sizes
from ._base import VizWidget, toggle
from .explorers import _grid_controls

__all__ = ["MaskGroupExplorer"]


class MaskGroupExplorer(VizWidget):
    """Grid, window and shift switches -> the windows of the rolled grid grouped by mask pattern.

    ``state`` holds the controls and ``window``/``shift`` (effective, after clamping), ``padded``
    (the grid the block attends over), ``num_windows``, ``sizes`` (windows per group),
    ``all_zero_windows`` (windows whose mask masks nothing) and ``mask_floats`` (numbers in one
    ``(N, N)`` mask per window, and per group).
    """

    title = "Mask groups: the windows of a shifted grid sorted by their mask pattern"

    def __init__(self, dhw=(4, 12, 12), window_size=(2, 4, 4), *, strict: bool = True) -> None:
        self._init = (tuple(dhw), tuple(window_size))
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        controls = _grid_controls(*self._init)
        controls["temporal"] = toggle("temporal shift", True)
        controls["spatial"] = toggle("spatial shift", True)
        return controls

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        dhw = (values["T"], values["H"], values["W"])
        P, M = values["P"], values["M"]
        sd, sm = P // 2 if values["temporal"] else 0, M // 2 if values["spatial"] else 0
        asked = (sd, sm, sm)  # the paper's (P/2, M/2, M/2) on the switched-on axes
        window, shift = effective_window(dhw, (P, M, M), asked)  # clamped as in the block
        padded = tuple(n + p for n, p in zip(dhw, pad_sizes(dhw, window), strict=True))
        _, sizes, all_zero = mask_group_ids(padded, window, shift)
        N = window[0] * window[1] * window[2]
        nW = sum(sizes)
        fig = plot_mask_groups(padded, window, shift)
        return fig, {
            "window": window,
            "shift": shift,
            "padded": padded,
            "num_windows": nW,
            "sizes": sizes,
            "all_zero_windows": sum(n for n, z in zip(sizes, all_zero, strict=True) if z),
            "mask_floats": (nW * N * N, len(sizes) * N * N),
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        per_window, per_group = state["mask_floats"]
        return [
            f"padded grid {state['padded']}, effective window {state['window']}, shift {state['shift']}",
            f"{state['num_windows']} windows in {len(state['sizes'])} group(s) of {list(state['sizes'])}; "
            f"{state['all_zero_windows']} window(s) with the all-zero mask",
            f"masks kept: {per_window:,} numbers (one per window) vs {per_group:,} (one per group)",
        ]
