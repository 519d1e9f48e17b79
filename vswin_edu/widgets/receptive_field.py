"""Receptive-field flood fill (chapter 12): the shift ablation made visible.

Pick a token grid, a window ``P x M x M``, a start token and a number of blocks; switch the temporal
and the spatial shift of the odd (SW-MSA) blocks on or off.  The board shows, for every token, the
first block after which it can hold information from the start token — computed exactly by
:func:`vswin_edu.viz.receptive_field` (regular windows in even blocks, shifted windows *with the
mask* in odd blocks, windows and shifts clamped as in the model) and drawn by
:func:`vswin_edu.viz.plot_receptive_field`.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..viz.attention_maps import plot_receptive_field, receptive_field
from ..windows import effective_window
from ._base import VizWidget, int_slider, set_range, toggle
from .explorers import _grid_controls

__all__ = ["ReceptiveFieldExplorer"]

MAX_BLOCKS = 8  # a stage of Swin-S/B/L has 18 blocks, but 8 already fill every grid the sliders allow


class ReceptiveFieldExplorer(VizWidget):
    """Grid, window, start token, blocks and the two shift switches -> the exact reachable set.

    The odd blocks shift by ``(P//2, M//2, M//2)`` (the paper's shift) on the axes that are switched
    on: ``temporal shift`` moves the ``P`` axis, ``spatial shift`` the two ``M`` axes.

    ``state`` holds the controls and ``shift`` (the shift asked for), ``blocks`` (per block: kind
    ``"W"``/``"SW"``, effective window and shift), ``reached`` (tokens reached after each block,
    ``reached[0] == 1`` for the start token alone), ``total`` (tokens in the grid), ``fraction``
    (reached after the last block / total) and ``reached_at`` (the ``(D, H, W)`` map).
    """

    title = "Receptive field: which tokens can a token have heard from after k blocks?"

    def __init__(
        self,
        dhw=(8, 8, 8),
        window_size=(4, 4, 4),
        start=(3, 3, 3),
        num_blocks: int = 2,
        *,
        strict: bool = True,
    ) -> None:
        if (
            isinstance(num_blocks, bool)
            or not isinstance(num_blocks, int)
            or not 0 <= num_blocks <= MAX_BLOCKS
        ):
            raise ValueError(f"num_blocks must be an int in [0, {MAX_BLOCKS}], got {num_blocks!r}")
        self._init = (tuple(dhw), tuple(window_size), tuple(start), num_blocks)
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        dhw, window, start, blocks = self._init
        controls = _grid_controls(dhw, window)
        if len(start) != 3 or any(not 0 <= s < n for s, n in zip(start, dhw, strict=True)):
            raise ValueError(f"start must be (t, h, w) inside the grid {dhw}, got {start}")
        for name, value, n in zip("thw", start, dhw, strict=True):
            controls[name] = int_slider(f"start {name}", value, 0, n - 1)
        controls["blocks"] = int_slider("blocks", blocks, 0, MAX_BLOCKS)
        controls["temporal"] = toggle("temporal shift", True)
        controls["spatial"] = toggle("spatial shift", True)
        return controls

    def sync(self) -> None:
        for name, axis in zip("thw", "THW", strict=True):
            set_range(self.controls[name], self.controls[axis].value - 1)

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        dhw = (values["T"], values["H"], values["W"])
        P, M = values["P"], values["M"]
        sd, sm = P // 2 if values["temporal"] else 0, M // 2 if values["spatial"] else 0
        shift = (sd, sm, sm)  # the odd blocks' shift, (P/2, M/2, M/2) with both switches on
        start, k = (values["t"], values["h"], values["w"]), values["blocks"]
        reached_at = receptive_field(dhw, (P, M, M), shift, k, start)  # (D, H, W) first block, -1 never
        blocks = []
        for j in range(k):
            win, sh = effective_window(dhw, (P, M, M), shift if j % 2 else (0, 0, 0))
            blocks.append(("SW" if j % 2 else "W", win, sh))
        reached = [int(((reached_at >= 0) & (reached_at <= j)).sum()) for j in range(k + 1)]
        total = dhw[0] * dhw[1] * dhw[2]
        title = (
            f"token {start}, {k} block(s), window {P}x{M}x{M}, shift {shift}: "
            f"{reached[-1]} of {total} reached"
        )
        fig = plot_receptive_field(reached_at, title=title)
        return fig, {
            "shift": shift,
            "blocks": blocks,
            "reached": reached,
            "total": total,
            "fraction": reached[-1] / total,
            "reached_at": reached_at,
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        lines = [
            f"reached after 0, 1, ... blocks: {', '.join(map(str, state['reached']))} "
            f"of {state['total']} tokens ({state['fraction']:.0%} after the last)"
        ]
        for j, (kind, win, sh) in enumerate(state["blocks"]):
            lines.append(f"block {j + 1} ({kind}-MSA): window {win}, shift {sh}")
        asked = state["shift"]
        odd = [sh for kind, _, sh in state["blocks"] if kind == "SW"]
        if odd and odd[0] != asked:
            lines.append(
                f"shift {asked} clamped to {odd[0]}: an axis no larger than its window is not shifted"
            )
        if state["reached"][-1] == state["total"]:
            lines.append("every token of the grid is reached")
        return lines
