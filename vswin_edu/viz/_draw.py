"""Drawing helpers shared by the ``viz`` modules (private: not re-exported).

A *slice* is one frame ``t`` of the token grid drawn as an ``H x W`` board of cells: row ``h``,
column ``w``, the cell of token ``(t, h, w)`` centred at ``(w, h)``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, Rectangle

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
        # hatch lines dark on light cells and light on dark ones, so a hatch never vanishes
        by_pattern: dict[tuple[str, str], list[Rectangle]] = {}
        for h in range(H):
            for w in range(W):
                if hatches[h][w]:
                    ink = "#333333" if style.text_color(colors[h][w]) == "black" else "#777777"
                    key = (hatches[h][w], ink)
                    by_pattern.setdefault(key, []).append(Rectangle((w - 0.5, h - 0.5), 1, 1))
        for (pattern, ink), rects in by_pattern.items():
            ax.add_collection(
                PatchCollection(rects, facecolor="none", edgecolor=ink, hatch=pattern, linewidth=0)
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


def legend_patch(label: str, color: str, hatch: str = "") -> Patch:
    """A legend entry for a filled cell: ``color`` with ``hatch`` (drawn in the cell's hatch ink)."""
    ink = "#333333" if style.text_color(color) == "black" else "#777777"
    return Patch(facecolor=color, edgecolor=ink if hatch else "black", hatch=hatch or None, label=label)


def figure_legend(fig: Figure, handles: Sequence[Artist], ncols: int | None = None) -> None:
    """A legend under all axes (constrained layout keeps room for it), ``ncols`` entries a row."""
    if ncols is None:  # as many entries a row as fit: handle + label at ~0.6 em a character
        points = FontProperties(size="small").get_size_in_points()
        longest = max(len(h.get_label()) for h in handles)
        entry = (0.6 * longest + 4.0) * points / 72  # inches
        ncols = max(1, min(len(handles), int(0.95 * fig.get_figwidth() / entry)))
    fig.legend(
        handles=list(handles), loc="outside lower center", ncols=ncols, fontsize="small", frameon=False
    )


def token_number(p: Sequence[int], dhw: Size3) -> int:
    """Raster number ``t*H*W + h*W + w`` of the token at original position ``p``."""
    _, H, W = dhw
    return p[0] * H * W + p[1] * W + p[2]


def finish(fig: Figure, max_rounds: int = 4) -> None:
    """Lay the figure out so that no title, label or legend overlaps another or falls off the figure.

    Constrained layout ("compressed", meant for the fixed-aspect boards of these figures) places the
    axes at draw time.  It cannot make a figure larger, so when the boards, titles and legends do
    not fit, it squeezes them into each other.  Here the layout is run and measured: while the
    decorated axes, the figure title and the legends overlap or stick out, the figure grows by what
    is missing (at most ``max_rounds`` times) — the figure is as small as its content allows.
    """
    fig.set_layout_engine("constrained")
    for _ in range(max_rounds):
        fig.draw_without_rendering()
        grow_w, grow_h = _missing_room(fig)
        if grow_w <= 0 and grow_h <= 0:
            return
        dpi = fig.dpi
        fig.set_size_inches(fig.get_figwidth() + grow_w / dpi, fig.get_figheight() + grow_h / dpi)


def _missing_room(fig: Figure) -> tuple[float, float]:
    """Pixels of width and height the laid-out figure lacks: overlaps between the decorated axes,
    the figure title and the legends, and whatever of them lies outside the figure."""
    renderer = fig._get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    boxes += [legend.get_window_extent(renderer) for legend in fig.legends]
    if fig._suptitle is not None and fig._suptitle.get_text():
        boxes.append(fig._suptitle.get_window_extent(renderer))
    boxes = [b for b in boxes if b is not None and b.width > 0 and b.height > 0]
    W, H = fig.bbox.width, fig.bbox.height
    pad = 2.0
    grow_w = max([0.0] + [pad - b.x0 for b in boxes] + [b.x1 - W + pad for b in boxes])
    grow_h = max([0.0] + [pad - b.y0 for b in boxes] + [b.y1 - H + pad for b in boxes])
    for k, a in enumerate(boxes):
        for b in boxes[k + 1 :]:
            dx = min(a.x1, b.x1) - max(a.x0, b.x0)
            dy = min(a.y1, b.y1) - max(a.y0, b.y0)
            if dx <= 1 or dy <= 1:
                continue
            # side by side: the figure needs width; one above the other: height
            if abs((a.x0 + a.x1) - (b.x0 + b.x1)) > abs((a.y0 + a.y1) - (b.y0 + b.y1)):
                grow_w = max(grow_w, 2 * dx + pad)
            else:
                grow_h = max(grow_h, 2 * dy + pad)
    return grow_w, grow_h


def wrap(text: str, width_in: float, size: str | float) -> str:
    """``text`` wrapped to lines that fit ``width_in`` inches at font size ``size`` (~0.6 em a character)."""
    points = FontProperties(size=size).get_size_in_points()
    chars = max(12, int(0.95 * width_in * 72 / (0.6 * points)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def suptitle(fig: Figure, text: str) -> None:
    """A figure title wrapped to the figure's width, with the figure made taller by the title's height.

    Without the extra height the layout engine squeezes the title into the space of the axes, and
    with fixed-aspect boards (``imshow``) it then lets the title or the bottom axis labels overlap
    or fall off the figure.
    """
    size = plt.rcParams["figure.titlesize"]
    wrapped = wrap(text, fig.get_figwidth(), size)
    points = FontProperties(size=size).get_size_in_points()
    fig.set_figheight(fig.get_figheight() + (wrapped.count("\n") + 1) * 1.3 * points / 72)
    fig.suptitle(wrapped)


def frames_to_show(D: int, frame: int | None, limit: int = 8) -> list[int]:
    """The frames (slices) a figure draws: ``[frame]`` or all of them up to ``limit``."""
    if frame is None:
        return list(range(min(D, limit)))
    if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < D:
        raise ValueError(f"frame must be an int in [0, {D}) for a grid with D={D}, got {frame!r}")
    return [frame]
