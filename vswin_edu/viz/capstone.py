"""The capstone's comparison drawn: a heat strip of ``max |Δ|`` per layer (chapter 10).

:func:`vswin_edu.capstone.compare` runs two models layer by layer; :func:`plot_layer_diffs` draws one
comparison, or several side by side (e.g. your parts beside each known mistake), as columns of cells:
one row per layer in forward order, coloured by ``log10 max |Δ|`` with the value written in the cell
(colour is never the only cue).  Layers that are not close are hatched; the first divergence of each
column is outlined; a layer one model never reached is grey with a dash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .. import style
from ._draw import new_figure, suptitle

__all__ = ["plot_layer_diffs"]

_FLOOR, _CEIL = 1e-9, 10.0  # log scale from "equal to float32 rounding" to "a different function"
_CMAP = colormaps["cividis"]  # sequential and colour-blind safe
NOT_CLOSE_HATCH = "//"


def _as_columns(comparisons: Any) -> dict[str, Any]:
    if hasattr(comparisons, "rows"):
        return {"": comparisons}
    if not isinstance(comparisons, Mapping) or not comparisons:
        raise TypeError(
            "comparisons must be a Comparison (vswin_edu.capstone.compare) or a non-empty "
            f"{{label: Comparison}} dict, got {type(comparisons).__name__}"
        )
    return dict(comparisons)


def _cell_text(value: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "shape"
    return "0" if value == 0 else f"{value:.0e}"


def plot_layer_diffs(comparisons: Any, title: str = "") -> Figure:
    """``max |Δ|`` of every layer as a heat strip; one column per comparison.

    Args:
        comparisons: a :class:`vswin_edu.capstone.Comparison`, or ``{label: Comparison}`` with the same
            layers (anything with ``rows`` of ``name, max_abs, close`` and a ``first_divergence``).
        title: figure title (default: each column's first divergence).

    Returns:
        A figure with one axes (the strip) and a colour bar.
    """
    columns = _as_columns(comparisons)
    labels, comps = list(columns), list(columns.values())
    names = [row.name for row in comps[0].rows]
    for label, comp in columns.items():
        if [row.name for row in comp.rows] != names:
            raise ValueError(f"comparisons[{label!r}] has other layers than the first comparison")
    L, K = len(names), len(comps)
    values = np.array([[row.max_abs for row in comp.rows] for comp in comps], dtype=float).T  # (L, K)
    finite = np.where(np.isfinite(values), values, np.nan)
    shown = np.log10(np.clip(finite, _FLOOR, _CEIL))  # (L, K), nan where not reached / shape mismatch
    norm = Normalize(math.log10(_FLOOR), math.log10(_CEIL))
    fig, axes = new_figure(1, 1, (1.1 * K + 3.6, 0.27 * L + 1.9))
    ax = axes[0, 0]
    cmap = _CMAP.with_extremes(bad=style.PAD_COLOR)
    image = ax.imshow(
        np.ma.masked_invalid(shown), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest"
    )
    size = "x-small" if L > 16 else "small"
    for k, comp in enumerate(comps):
        for i, row in enumerate(comp.rows):
            background = style.PAD_COLOR if math.isnan(shown[i, k]) else to_hex(cmap(norm(shown[i, k])))
            ax.text(k, i, _cell_text(row.max_abs), ha="center", va="center", fontsize=size,
                    color=style.text_color(background))  # fmt: skip
            if not row.close:
                ax.add_patch(Rectangle((k - 0.5, i - 0.5), 1, 1, fill=False, hatch=NOT_CLOSE_HATCH,
                                       edgecolor="#333333", linewidth=0))  # fmt: skip
            if row.name == comp.first_divergence:
                ax.add_patch(Rectangle((k - 0.48, i - 0.48), 0.96, 0.96, fill=False,
                                       edgecolor=style.QUERY_COLOR, linewidth=3))  # fmt: skip
    ax.set_yticks(range(L), names, fontsize=size)
    ax.set_xticks(range(K), labels if any(labels) else [""] * K)
    ax.xaxis.tick_top()
    ax.tick_params(axis="x", labelrotation=0 if K < 4 else 30)
    for label in ax.get_xticklabels():
        label.set_ha("center" if K < 4 else "left")
    bar = fig.colorbar(image, ax=ax, fraction=0.08, pad=0.03)
    bar.set_label("log10 max |Δ| (floor 1e-9)")
    ax.legend(
        handles=[
            Patch(facecolor="white", edgecolor="#333333", hatch=NOT_CLOSE_HATCH, label="not close"),
            Patch(facecolor="white", edgecolor=style.QUERY_COLOR, linewidth=3, label="first divergence"),
            Patch(facecolor=style.PAD_COLOR, edgecolor="#333333", label="— not reached"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=3,
        fontsize="small",
        frameon=False,
    )
    if not title and K == 1:
        title = f"first divergence: {comps[0].first_divergence or 'none, every layer is close'}"
    elif not title:
        title = "max |Δ| per layer; outlined: where each column first diverges"
    suptitle(fig, title)
    fig.tight_layout()
    return fig
