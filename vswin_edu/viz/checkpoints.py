"""Checkpoints drawn: parameters per part of a state dict, and an inflated bias table (chapter 13).

:func:`plot_parameter_counts` is the picture of the state-dict browser: one bar per part (patch
embedding, each stage's blocks, each patch merging, final norm + head), the browsed part
highlighted.  :func:`plot_inflated_table` shows why 2D -> 3D inflation is exact on a static clip:
every temporal offset ``dt`` of the inflated table holds the same ``(2M-1) x (2M-1)`` 2D table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure

from .. import style
from .._checks import triple
from ._draw import finish, new_figure, suptitle

__all__ = ["plot_parameter_counts", "plot_inflated_table"]

HIGHLIGHT = style.REGION_COLORS[1]
PLAIN = style.WINDOW_COLORS[0]


def plot_parameter_counts(groups: Mapping[str, int], highlight: str | None = None) -> Figure:
    """Horizontal bars of parameters per part (``groups``: name -> count in model order, as
    :func:`vswin_edu.convert.parameter_groups` gives); parts whose name starts with ``highlight``
    (e.g. ``"stage 2"``) are drawn in the highlight colour and hatched."""
    if not groups:
        raise ValueError("groups is empty: nothing to plot")
    total = sum(groups.values())
    fig, axes = new_figure(1, 1, (6.5, 0.35 * len(groups) + 1.2))
    ax = axes[0, 0]
    names = list(groups)[::-1]  # first part on top
    marked = [highlight is not None and name.startswith(highlight) for name in names]
    bars = ax.barh(
        names,
        [groups[n] for n in names],
        color=[HIGHLIGHT if m else PLAIN for m in marked],
        edgecolor="black",
    )
    for bar, m, name in zip(bars, marked, names, strict=True):
        bar.set_hatch("//" if m else "")
        share = groups[name] / total
        ax.annotate(
            f" {groups[name]:,} ({share:.1%})",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize="small",
        )
    ax.set_xlim(0, max(groups.values()) * 1.45)
    ax.set_xlabel("parameters")
    suptitle(fig, f"{total:,} parameters")
    finish(fig)
    return fig


def plot_inflated_table(
    table_2d: torch.Tensor, table_3d: torch.Tensor, window_size: Sequence[int], head: int = 0
) -> Figure:
    """The 2D table ``((2M-1)^2, nH)`` beside each temporal slice ``dt`` of the inflated 3D table
    ``((2P-1)(2M-1)^2, nH)``, for one head: all slices equal the (resized) 2D table."""
    P, Mh, Mw = triple(window_size, "window_size")
    side = round(table_2d.shape[0] ** 0.5)  # a 2D window's table has (2M-1)^2 rows
    slices = table_3d[:, head].detach().reshape(2 * P - 1, 2 * Mh - 1, 2 * Mw - 1)  # (2P-1, 2Mh-1, 2Mw-1)
    shown = list(range(2 * P - 1))[:5]  # at most five temporal offsets
    fig, axes = new_figure(1, len(shown) + 1, (2.4, 2.6))
    vmin, vmax = float(table_2d[:, head].min()), float(table_2d[:, head].max())
    panels = [(table_2d[:, head].detach().reshape(side, side), "2D table")]
    panels += [(slices[i], f"3D, dt = {i - (P - 1)}") for i in shown]
    for ax, (grid, title) in zip(axes[0], panels, strict=True):
        ax.imshow(grid.numpy(), cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_title(title)
        ax.set_xlabel("dw")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("dh")
    suptitle(fig, f"head {head}: every temporal offset reads the 2D bias of the same (dh, dw)")
    finish(fig)
    return fig
