"""The state-dict browser (chapter 13): pick a stage and a block, see its keys, shapes, parameter
counts and what each one means — spelt in our, torchvision's or the official key names.

    from vswin_edu.widgets import StateDictBrowser
    StateDictBrowser(model_or_checkpoint)      # displays itself in a notebook
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn

from .. import convert, style, viz
from ._base import VizWidget, dropdown

__all__ = ["StateDictBrowser"]

MAX_ROWS = 40  # rows of the key table shown at once (Swin-T has 330 tensors)


class StateDictBrowser(VizWidget):
    """Browse a checkpoint by stage and block.

    Args:
        checkpoint: a model or a state dict of any layout :func:`vswin_edu.convert.to_vswin` reads
            (2D Swin checkpoints are shown inflated).
        strict: re-raise errors (default); otherwise only show them in the readout.

    Controls: ``part`` (``"all"``, ``"patch_embed"``, ``"stage i"``, ``"norm + head"``), ``block``
    (``"all"``, ``"block j"``, ``"downsample"``; the choices follow ``part``) and ``names``
    (``"vswin_edu"``, ``"torchvision"``, ``"official"``).  ``state`` holds ``rows`` (the dicts of
    :func:`vswin_edu.convert.browse`), ``tensors``, ``params`` and ``share`` (of all parameters);
    ``table`` is the ``ipywidgets.HTML`` key table.
    """

    title = "State-dict browser: which tensors make up each stage and block?"

    def __init__(self, checkpoint: nn.Module | Mapping[str, torch.Tensor], *, strict: bool = True) -> None:
        self.state_dict = convert.to_vswin(checkpoint)
        self.groups = convert.parameter_groups(self.state_dict)
        self.table = widgets.HTML(layout=widgets.Layout(width=style.widget_width()))
        super().__init__(strict=strict)
        self.widget.children = (*self.widget.children, self.table)

    def _blocks(self, part: str) -> list[str]:
        found = [convert.key_part(k)[1] for k in self.state_dict if convert.key_part(k)[0] == part]
        return ["all"] + [b for b in dict.fromkeys(found) if b != "all"]

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        parts = ["all"] + list(dict.fromkeys(convert.key_part(k)[0] for k in self.state_dict))
        return {
            "part": dropdown("part", parts, "all"),
            "block": dropdown("block", ["all"], "all"),
            "names": dropdown("key names", ["vswin_edu", "torchvision", "official"], "vswin_edu"),
        }

    def sync(self) -> None:
        block = self.controls["block"]
        choices = self._blocks(self.controls["part"].value)
        if list(block.options) != choices:
            previous = block.value
            block.options = choices
            block.value = previous if previous in choices else "all"

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        part, block = values["part"], values["block"]
        rows = convert.browse(self.state_dict, part, block, values["names"])
        params = sum(r["params"] for r in rows)
        highlight = None if part == "all" else part
        if block != "all" and part.startswith("stage"):
            highlight = f"{part} {'downsample' if block == 'downsample' else 'blocks'}"
        fig = viz.plot_parameter_counts(self.groups, highlight=highlight)
        share = params / sum(self.groups.values())
        return fig, {"rows": rows, "tensors": len(rows), "params": params, "share": share}

    def update(self) -> None:
        super().update()
        self._show_table()

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        return [
            f"{state['part']} / {state['block']}: {state['tensors']} tensors, "
            f"{state['params']:,} parameters ({state['share']:.1%} of the model)"
        ]

    def _show_table(self) -> None:
        rows = self.state.get("rows") or []
        cells = "".join(
            f"<tr><td><code>{html.escape(r['key'])}</code></td><td>{r['shape']}</td>"
            f"<td style='text-align:right'>{r['params']:,}</td><td>{html.escape(r['meaning'])}</td></tr>"
            for r in rows[:MAX_ROWS]
        )
        more = f"<p>... and {len(rows) - MAX_ROWS} more rows</p>" if len(rows) > MAX_ROWS else ""
        self.table.value = (
            f"<table><tr><th>key</th><th>shape</th><th>params</th><th>meaning</th></tr>{cells}</table>{more}"
        )
