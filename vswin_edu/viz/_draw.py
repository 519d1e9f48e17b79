"""Drawing helpers shared by the ``viz`` modules (private: not re-exported).

A *slice* is one frame ``t`` of the token grid drawn as an ``H x W`` board of cells: row ``h``,
column ``w``, the cell of token ``(t, h, w)`` centred at ``(w, h)``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle

from .. import style

Size3 = tuple[int, int, int]
MAX_LABELLED_CELLS = 256  # above this many cells per slice, numbers would be unreadable


def new_figure(nrows: int, ncols: int, cell: tuple[float, float], **kwargs) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows x ncols`` axes (always a 2D array), not kept by pyplot.

    The figure is made with pyplot (so notebooks display it with the inline backend) and closed at
    once, so nothing accumulates in pyplot's figure manager.
    """
    scale = style.figure_scale()
    figsize = (max(4.0, cell[0] * ncols) * scale, max(2.5, cell[1] * nrows) * scale)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kwargs)
    plt.close(fig)
    return fig, axes


def board_size(H: int, W: int) -> tuple[float, float]:
    """Size in inches of one ``H x W`` slice: cells of 0.16-0.5 in (big for tiny grids), 2 in at least."""
    side = min(0.5, max(0.16, 2.6 / max(H, W)))
    return max(2.0, W * side) + 0.6, max(2.0, H * side) + 1.4


def draw_cells(
    ax: Axes,
    colors: Sequence[Sequence[str]],
    hatches: Sequence[Sequence[str]] | None = None,
    labels: Sequence[Sequence[str]] | None = None,
    alpha: np.ndarray | None = None,
) -> None:
    """Fill an ``H x W`` board: one colour per cell, optional hatch and text.

    Colours go into a single image (fast for big grids); hatches are grouped into one
    ``PatchCollection`` per pattern; labels are drawn only if the board is small enough to read.
    ``alpha`` (``H x W`` in [0, 1]) fades cells towards white, e.g. tokens that do not matter.
    """
    H, W = len(colors), len(colors[0])
    lut = {c: to_rgb(c) for row in colors for c in set(row)}
    rgb = np.array([[lut[c] for c in row] for row in colors])  # (H, W, 3)
    if alpha is not None:
        rgb = 1.0 - alpha[..., None] * (1.0 - rgb)
    ax.imshow(rgb, interpolation="nearest", extent=(-0.5, W - 0.5, H - 0.5, -0.5))
    if hatches is not None:
        by_pattern: dict[str, list[Rectangle]] = {}
        for h in range(H):
            for w in range(W):
                if hatches[h][w]:
                    by_pattern.setdefault(hatches[h][w], []).append(Rectangle((w - 0.5, h - 0.5), 1, 1))
        for pattern, rects in by_pattern.items():
            ax.add_collection(
                PatchCollection(rects, facecolor="none", edgecolor="#333333", hatch=pattern, linewidth=0)
            )
    if labels is not None and H * W <= MAX_LABELLED_CELLS:
        size = 8 if max(H, W) <= 8 else 6
        for h in range(H):
            for w in range(W):
                if labels[h][w]:
                    ax.text(
                        w,
                        h,
                        labels[h][w],
                        ha="center",
                        va="center",
                        fontsize=size * style.figure_scale(),
                        color=style.text_color(colors[h][w]),
                        in_layout=False,  # inside its cell: layout need not measure thousands of labels
                    )
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)


def draw_borders(
    ax: Axes, H: int, W: int, window_hw: tuple[int, int], offset_hw: tuple[int, int] = (0, 0)
) -> None:
    """Thick lines on the window borders of a slice (borders at ``offset + k*M``, inside the board)."""
    (wh, ww), (oh, ow) = window_hw, offset_hw
    rows = sorted({(oh + k * wh) % H for k in range(H // wh + 1)} - {0})
    cols = sorted({(ow + k * ww) % W for k in range(W // ww + 1)} - {0})
    lw = 2.5 * style.figure_scale()
    if rows:
        ax.hlines([r - 0.5 for r in rows], -0.5, W - 0.5, colors="black", linewidth=lw)
    if cols:
        ax.vlines([c - 0.5 for c in cols], -0.5, H - 0.5, colors="black", linewidth=lw)
    ax.add_patch(Rectangle((-0.5, -0.5), W, H, fill=False, edgecolor="black", linewidth=lw))


def label_board(ax: Axes, H: int, W: int, title: str) -> None:
    """Title, axis labels and integer ticks of a slice."""
    ax.set_title(title)
    ax.set_xlabel("w")
    ax.set_ylabel("h")
    step_w, step_h = (1 if n <= 8 else -(-n // 6) for n in (W, H))  # every index on small boards
    ax.set_xticks(range(0, W, step_w))
    ax.set_yticks(range(0, H, step_h))
    ax.tick_params(length=0)


def token_number(p: Sequence[int], dhw: Size3) -> int:
    """Raster number ``t*H*W + h*W + w`` of the token at original position ``p``."""
    _, H, W = dhw
    return p[0] * H * W + p[1] * W + p[2]


def finish(fig: Figure) -> None:
    """Lay the figure out with constrained layout: titles, colour bars and labels neither overlap nor get
    cut, at draw time (one pass, cheaper than ``tight_layout`` which needed two here)."""
    fig.set_layout_engine("constrained")


def suptitle(fig: Figure, text: str) -> None:
    """A figure title wrapped to the figure's width (long titles would be cut off otherwise)."""
    points = FontProperties(size=plt.rcParams["figure.titlesize"]).get_size_in_points()
    chars = max(20, int(0.95 * fig.get_figwidth() * 72 / (0.6 * points)))  # ~0.6 em per character
    fig.suptitle(textwrap.fill(text, chars))


def frames_to_show(D: int, frame: int | None, limit: int = 8) -> list[int]:
    """The frames (slices) a figure draws: ``[frame]`` or all of them up to ``limit``."""
    if frame is None:
        return list(range(min(D, limit)))
    if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < D:
        raise ValueError(f"frame must be an int in [0, {D}) for a grid with D={D}, got {frame!r}")
    return [frame]
