"""Window and shift explorers (chapters 3 and 4): the grid, the window and the roll, interactive.

``WindowExplorer``: T/H/W of the token grid, window ``P x M x M``, frame and view -> windows
coloured by id, with the window count.  ``ShiftExplorer``: the 3D roll-and-regroup explorer -
per-axis shift toggles, the roll with numbered tokens, naive padding vs cyclic shift, region ids;
window counts of both methods in the readout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from .. import viz
from .._checks import triple
from ..geometry import original_to_rolled, window_geometry
from ..shift import region_ids
from ._base import VizWidget, dropdown, int_slider, set_range, toggle

__all__ = ["WindowExplorer", "ShiftExplorer"]


# Slider ranges: big enough to see every case (odd sizes, clamped windows), small enough to draw fast.
SLIDER_MAX = {"T": 8, "H": 16, "W": 16, "P": 8, "M": 8}
_LABELS = {
    "T": "T (token frames)",
    "H": "H (token rows)",
    "W": "W (token cols)",
    "P": "P (window frames)",
    "M": "M (window side)",
}


def _grid_controls(dhw: Sequence[int], window_size: Sequence[int]) -> dict[str, widgets.ValueWidget]:
    """Sliders T, H, W, P, M starting at a validated grid ``(D, H, W)`` and window ``(P, M, M)``."""
    grid, (P, Mh, Mw) = triple(tuple(dhw), "dhw"), triple(window_size, "window_size")
    if Mh != Mw:
        raise ValueError(f"window_size must be (P, M, M) with equal H and W sides, got {(P, Mh, Mw)}")
    start = dict(zip("THWPM", (*grid, P, Mh), strict=True))
    too_big = {name: v for name, v in start.items() if v > SLIDER_MAX[name]}
    if too_big:
        raise ValueError(f"dhw and window_size must fit the sliders {SLIDER_MAX}, got {too_big}")
    return {name: int_slider(_LABELS[name], v, 1, SLIDER_MAX[name]) for name, v in start.items()}


def _frame_options(D: int) -> list[tuple[str, int | None]]:
    return [("all", None)] + [(str(t), t) for t in range(D)]


class WindowExplorer(VizWidget):
    """Chapter 3: a token grid cut into ``P x M x M`` windows, coloured by window id.

    ``state`` holds ``num_windows``, ``tokens_per_window``, ``padded`` (the grid padded to window
    multiples), ``window`` (the effective window) and ``clamped``.
    """

    title = "Window explorer: a D x H x W token grid cut into P x M x M windows"

    def __init__(self, dhw=(4, 8, 8), window_size=(2, 4, 4), *, strict: bool = True) -> None:
        self._init = (tuple(dhw), tuple(window_size))
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        controls = _grid_controls(*self._init)
        controls["frame"] = dropdown("frame", _frame_options(controls["T"].value), None)
        controls["view"] = dropdown("view", ["slices", "voxels"], "slices")
        return controls

    def sync(self) -> None:
        frame = self.controls["frame"]
        options = _frame_options(self.controls["T"].value)
        if list(frame.options) != options:
            current = frame.value
            frame.options = options
            frame.value = current if current is None or current < self.controls["T"].value else None

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        dhw = (values["T"], values["H"], values["W"])
        window = (values["P"], values["M"], values["M"])
        geo = window_geometry(dhw, window, (0, 0, 0))
        fig = viz.plot_windows(dhw, window, view=values["view"], frame=values["frame"])
        return fig, {
            "num_windows": geo.num_windows,
            "window_grid": geo.window_grid,
            "tokens_per_window": geo.tokens_per_window,
            "padded": geo.padded,
            "window": geo.window,
            "clamped": geo.clamped,
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        nd, nh, nw = state["window_grid"]
        lines = [
            f"nW = ceil(D/P)·ceil(H/M)·ceil(W/M) = {nd}·{nh}·{nw} = {state['num_windows']} windows "
            f"of N = {state['tokens_per_window']} tokens",
            f"padded grid {state['padded']}, window {state['window']}",
        ]
        if state["clamped"]:
            lines.append("the window is larger than the grid on some axis: clamped to the grid")
        return lines


class ShiftExplorer(VizWidget):
    """Chapter 4: the 3D roll-and-regroup explorer.

    Views: ``"roll"`` (one frame before/after the cyclic shift, tokens numbered), ``"padding vs
    cyclic"`` (window counts of both), ``"regions"`` (region ids after the roll), ``"windows 3D"``
    (shifted windows as voxels).  ``state`` holds ``shift`` (effective), ``windows_cyclic``,
    ``windows_padding``, ``extra_windows``, ``regions`` (distinct region ids) and
    ``origin_lands_at`` (rolled position of token (0, 0, 0)).
    """

    title = "Shift explorer: cyclic shift vs naive padding"

    def __init__(self, dhw=(4, 8, 8), window_size=(2, 4, 4), *, strict: bool = True) -> None:
        self._init = (tuple(dhw), tuple(window_size))
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        controls = _grid_controls(*self._init)
        controls["shift_t"] = toggle("shift T by P//2", True)
        controls["shift_h"] = toggle("shift H by M//2", True)
        controls["shift_w"] = toggle("shift W by M//2", True)
        controls["frame"] = int_slider("frame", 0, 0, controls["T"].value - 1)
        controls["view"] = dropdown("view", ["roll", "padding vs cyclic", "regions", "windows 3D"], "roll")
        return controls

    def sync(self) -> None:
        set_range(self.controls["frame"], self.controls["T"].value - 1)

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        dhw = (values["T"], values["H"], values["W"])
        P, M = values["P"], values["M"]
        window = (P, M, M)
        shift = (
            P // 2 if values["shift_t"] else 0,
            M // 2 if values["shift_h"] else 0,
            M // 2 if values["shift_w"] else 0,
        )
        geo = window_geometry(dhw, window, shift)
        naive, cyclic = viz.naive_window_counts(dhw, window, shift)
        view, frame = values["view"], values["frame"]
        if view == "roll":
            fig = viz.plot_cyclic_shift(dhw, window, shift, frame=frame)
        elif view == "padding vs cyclic":
            fig = viz.plot_padding_vs_cyclic(dhw, window, shift, frame=frame)
        elif view == "regions":
            fig = viz.plot_region_ids(
                dhw, window, shift, frame=original_to_rolled((frame, 0, 0), geo.shift, geo.padded)[0]
            )
        else:
            fig = viz.plot_windows(dhw, window, shift, view="voxels")
        n_naive = naive[0] * naive[1] * naive[2]
        return fig, {
            "shift": geo.shift,
            "window": geo.window,
            "windows_cyclic": geo.num_windows,
            "windows_padding": n_naive,
            "extra_windows": n_naive - geo.num_windows,
            "naive_per_axis": naive,
            "cyclic_per_axis": cyclic,
            "regions": int(region_ids(geo.padded, geo.window, geo.shift).unique().numel()),
            "origin_lands_at": original_to_rolled((0, 0, 0), geo.shift, geo.padded),
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        cd, ch, cw = state["cyclic_per_axis"]
        nd, nh, nw = state["naive_per_axis"]
        return [
            f"effective window {state['window']}, shift {state['shift']}",
            f"cyclic shift: {cd}·{ch}·{cw} = {state['windows_cyclic']} windows; "
            f"naive padding: {nd}·{nh}·{nw} = {state['windows_padding']} windows "
            f"(+{state['extra_windows']})",
            f"{state['regions']} regions after the roll; token (0,0,0) lands at {state['origin_lands_at']}",
        ]
