"""Relative position index and bias, and attention weights over a window (Sec. 3.2 Eq. 1; chapters 6-7).

``Attention(Q, K, V) = SoftMax(QK^T / sqrt(d) + B) V``: the bias ``B`` of a (query, key) pair is
read from a ``(2P-1)(2M-1)(2M-1)``-row table at a mixed-radix index of their offset.  These
figures show the ``(N, N)`` index, the bias of one head, and one query's attention weights laid
out on the window's ``(P, M, M)`` grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import style
from .._checks import triple
from ..relpos import relative_position_index, table_size
from ._draw import MAX_LABELLED_CELLS, draw_cells, finish, new_figure, suptitle

__all__ = ["plot_relative_index", "plot_bias", "plot_attention_weights", "window_query_index"]

_CMAP = "viridis"  # perceptually uniform and colour-blind safe
_UNUSED = "#F2F2F2"


def window_query_index(query: int | Sequence[int], window_size: Sequence[int]) -> int:
    """A query given as token number ``i`` or as ``(t, h, w)`` inside the window, as ``i``."""
    wd, wh, ww = triple(window_size, "window_size")
    N = wd * wh * ww
    if isinstance(query, int) and not isinstance(query, bool):
        i = query
    elif isinstance(query, Sequence) and len(query) == 3:
        t, h, w = (int(a) for a in query)
        if not (0 <= t < wd and 0 <= h < wh and 0 <= w < ww):
            raise ValueError(f"query (t, h, w) must lie in the window {(wd, wh, ww)}, got {(t, h, w)}")
        i = (t * wh + h) * ww + w
    else:
        raise TypeError(f"query must be a token number or (t, h, w) inside the window, got {query!r}")
    if not 0 <= i < N:
        raise ValueError(f"query must be a token number in [0, {N}), got {i}")
    return i


def _heat(ax: Axes, values: np.ndarray, vmin: float, vmax: float, fmt: str | None, mark=None, key=None):
    """A heat map with optional numbers, a pink box round ``mark`` and an orange one round ``key``."""
    image = ax.imshow(values, cmap=_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    rows, cols = values.shape
    if fmt is not None and rows * cols <= MAX_LABELLED_CELLS:
        mid = (vmin + vmax) / 2
        for (r, c), v in np.ndenumerate(values):
            ax.text(
                c,
                r,
                format(v, fmt),
                ha="center",
                va="center",
                fontsize=7,
                color="black" if v > mid else "white",
                in_layout=False,
            )
    if mark is not None:
        box = Rectangle((mark[1] - 0.5, mark[0] - 0.5), 1, 1, fill=False, edgecolor="#EE3377", linewidth=3)
        ax.add_patch(box)
    if key is not None:
        box = Rectangle((key[1] - 0.4, key[0] - 0.4), 0.8, 0.8, fill=False, edgecolor="#EE7733", linewidth=3)
        ax.add_patch(box)
    rows_step, cols_step = max(1, rows // 8), max(1, cols // 8)
    ax.set_xticks(range(0, cols, cols_step))
    ax.set_yticks(range(0, rows, rows_step))
    return image


def plot_relative_index(
    window_size: Sequence[int],
    query: int | Sequence[int] | None = None,
    key: int | Sequence[int] | None = None,
) -> Figure:
    """The ``(N, N)`` relative position index of a window, and optionally one query's row on the window.

    ``index[i, j] = (dt + P-1)(2M-1)^2 + (dh + M-1)(2M-1) + (dw + M-1)`` for the offset
    ``(dt, dh, dw) = c_i - c_j`` (:func:`vswin_edu.relpos.relative_position_index`).  With ``query``
    (token number or ``(t, h, w)`` in the window) the row of that query is also drawn on the
    window's ``P`` frames, one index per key, the query boxed in pink; a ``key`` is boxed in orange
    on the boards and its ``(query, key)`` entry of the heat map marked.  A last panel draws the
    table itself (one ``(2M-1) x (2M-1)`` tile per temporal offset): the rows the query reads are
    shaded and the ``(query, key)`` row is lit.

    Returns:
        A figure with the heat map and its colour bar, or, when ``query`` is given, the heat map,
        ``P`` boards and the table.
    """
    wd, wh, ww = triple(window_size, "window_size")
    index = relative_position_index((wd, wh, ww))  # (N, N)
    rows = table_size((wd, wh, ww))
    boards = 0 if query is None else wd + 1  # P key frames + the table
    ratios = [1.0] * (1 + wd) + [max(1.5, 0.6 * (2 * wd - 1))] if query is not None else [1.0]
    fig, axes = new_figure(1, 1 + boards, (3.6, 4.2), gridspec_kw={"width_ratios": ratios})
    ax = axes[0, 0]
    i = None if query is None else window_query_index(query, (wd, wh, ww))
    j = None if key is None else window_query_index(key, (wd, wh, ww))
    image = _heat(ax, index.numpy(), 0, rows - 1, None, key=None if i is None or j is None else (i, j))
    if i is None:  # with a query the boards and the table carry the numbers themselves
        fig.colorbar(image, ax=ax, shrink=0.8, label="table row")
    ax.set_xlabel("key j")
    ax.set_ylabel("query i")
    ax.set_title(f"index (N={index.shape[0]})")
    if i is not None:
        row = index[i].reshape(wd, wh, ww).numpy()  # (P, M, M)
        qt, qh, qw = i // (wh * ww), i // ww % wh, i % ww
        for t in range(wd):
            board = axes[0, 1 + t]
            key_cell = None if j is None or j // (wh * ww) != t else (j // ww % wh, j % ww)
            _heat(board, row[t], 0, rows - 1, "d", mark=(qh, qw) if t == qt else None, key=key_cell)
            board.set_title(f"key frame t={t}")
            board.set_xlabel("w")
            board.set_ylabel("h")
        _draw_table(axes[0, -1], (wd, wh, ww), index[i], None if j is None else int(index[i, j]))
    suptitle(
        fig,
        f"relative position index of a {wd}x{wh}x{ww} window: {rows} = "
        f"{2 * wd - 1}x{2 * wh - 1}x{2 * ww - 1} table rows",
    )
    finish(fig)
    return fig


def _draw_table(ax: Axes, window: tuple[int, int, int], row: torch.Tensor, lit: int | None) -> None:
    """The bias table as ``2P-1`` tiles of ``(2M-1) x (2M-1)`` rows: the query's rows shaded, one lit.

    Row ``index = rd (2M-1)^2 + rh (2M-1) + rw`` sits in tile ``rd`` at cell ``(rh, rw)``.
    """
    wd, wh, ww = window
    th, tw = 2 * wh - 1, 2 * ww - 1
    used = set(row.tolist())
    colors, hatches, labels = [], [], []
    for rh in range(th):
        colors.append([])
        hatches.append([])
        labels.append([])
        for col in range((2 * wd - 1) * tw):
            index = (col // tw) * th * tw + rh * tw + col % tw
            colors[-1].append(
                style.WRONG_MASKED_COLOR
                if index == lit
                else (style.ALLOWED_COLOR if index in used else _UNUSED)
            )
            hatches[-1].append("xx" if index == lit else "")
            labels[-1].append(str(index))
    draw_cells(ax, colors, hatches, labels)
    ax.vlines([k * tw - 0.5 for k in range(1, 2 * wd - 1)], -0.5, th - 0.5, colors="black", linewidth=2)
    ax.set_xticks(
        [k * tw + tw // 2 for k in range(2 * wd - 1)], [f"dt={k - wd + 1}" for k in range(2 * wd - 1)]
    )
    ax.set_yticks([])
    ax.set_xlabel("table tiles (one per dt); cell = (dh, dw)")
    title = f"table: {len(used)} rows used by this query"
    ax.set_title(title + ("" if lit is None else f", row {lit} lit"))


def plot_bias(bias_or_table: torch.Tensor, window_size: Sequence[int], head: int = 0) -> Figure:
    """The relative position bias ``B`` of one head as an ``(N, N)`` heat map.

    Args:
        bias_or_table: the table ``((2P-1)(2M-1)(2M-1), nH)`` (then the table column is also drawn,
            one ``(2M-1) x (2M-1)`` tile per temporal offset), a bias ``(nH, N, N)`` or ``(N, N)``.
        window_size: ``(P, M, M)``.
        head: which head.

    Returns:
        One heat map, plus the table tiles for a table, and one shared colour bar.
    """
    wd, wh, ww = triple(window_size, "window_size")
    N, rows = wd * wh * ww, table_size((wd, wh, ww))
    if not isinstance(bias_or_table, torch.Tensor):
        raise TypeError(f"bias_or_table must be a torch.Tensor, got {type(bias_or_table).__name__}")
    values = bias_or_table.detach().float().cpu()
    table = None
    if values.dim() == 2 and values.shape[0] == rows:
        table = values[:, head]  # (rows,)
        bias = table[relative_position_index((wd, wh, ww))]  # (N, N)
    elif values.dim() == 3 and values.shape[1:] == (N, N):
        bias = values[head]
    elif values.dim() == 2 and values.shape == (N, N):
        bias = values
    else:
        raise ValueError(
            f"bias_or_table must be a table ({rows}, nH), a bias (nH, {N}, {N}) or ({N}, {N}) for window "
            f"{(wd, wh, ww)}, got shape {tuple(values.shape)}"
        )
    limit = float(bias.abs().max()) or 1.0
    ratios = [1.0] if table is None else [1.0, 1.6]
    fig, axes = new_figure(1, len(ratios), (4.2, 4.0), gridspec_kw={"width_ratios": ratios})
    ax = axes[0, 0]
    image = ax.imshow(bias.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xlabel("key j")
    ax.set_ylabel("query i")
    ax.set_title(f"B, head {head} ({N}x{N})")
    step = max(1, -(-N // 8))  # token numbers are integers: ticks on whole tokens only
    ax.set_xticks(range(0, N, step))
    ax.set_yticks(range(0, N, step))
    if table is not None:
        tiles = table.reshape(2 * wd - 1, 2 * wh - 1, 2 * ww - 1)  # (2P-1, 2M-1, 2M-1)
        mosaic = torch.cat(list(tiles), dim=1).numpy()  # (2M-1, (2P-1)(2M-1)) tiles side by side
        tax = axes[0, 1]
        tax.imshow(mosaic, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest", aspect="auto")
        tax.vlines([k * (2 * ww - 1) - 0.5 for k in range(1, 2 * wd - 1)], -0.5, 2 * wh - 1.5, colors="black")
        tw = 2 * ww - 1
        tax.set_xticks(
            [k * tw + tw // 2 for k in range(2 * wd - 1)], [f"dt={k - wd + 1}" for k in range(2 * wd - 1)]
        )
        tax.set_yticks(range(2 * wh - 1), [str(k - wh + 1) for k in range(2 * wh - 1)])
        tax.set_xlabel(f"one tile per dt; dw = {-(ww - 1)}..{ww - 1} left to right within a tile")
        tax.set_ylabel("dh")
        tax.set_title(f"table column {head} ({rows} rows)")
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="bias")
    suptitle(fig, f"relative position bias of a {wd}x{wh}x{ww} window")
    finish(fig)
    return fig


def plot_attention_weights(
    weights: torch.Tensor,
    window_size: Sequence[int],
    query: int | Sequence[int],
    frame: int | None = None,
) -> Figure:
    """One query's attention weights over its window, laid out on the window's ``(P, M, M)`` grid.

    Args:
        weights: ``(N,)`` weights of the query, or ``(N, N)`` (the query's row is taken).
        window_size: ``(P, M, M)`` of the window the weights belong to.
        query: token number ``i`` or ``(t, h, w)`` inside the window; its cell is boxed.
        frame: draw only this frame of the window (default: all ``P``).

    Returns:
        One board per drawn frame (shared colour scale) and a colour bar.
    """
    wd, wh, ww = triple(window_size, "window_size")
    N = wd * wh * ww
    i = window_query_index(query, (wd, wh, ww))
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"weights must be a torch.Tensor, got {type(weights).__name__}")
    values = weights.detach().float().cpu()
    if values.shape == (N, N):
        values = values[i]
    if values.shape != (N,):
        raise ValueError(
            f"weights must have shape ({N},) or ({N}, {N}) for window {(wd, wh, ww)}, "
            f"got {tuple(weights.shape)}"
        )
    grid = values.reshape(wd, wh, ww).numpy()  # (P, M, M)
    if frame is None:
        frames = list(range(wd))
    elif isinstance(frame, int) and not isinstance(frame, bool) and 0 <= frame < wd:
        frames = [frame]
    else:
        raise ValueError(f"frame must be an int in [0, {wd}) or None, got {frame!r}")
    qt, qh, qw = i // (wh * ww), i // ww % wh, i % ww
    fig, axes = new_figure(1, len(frames), (2.6, 2.8))
    vmax = float(grid.max()) or 1.0
    for ax, t in zip(axes[0], frames, strict=True):
        image = _heat(ax, grid[t], 0.0, vmax, ".2f", mark=(qh, qw) if t == qt else None)
        ax.set_title(f"frame t={t}")
        ax.set_xlabel("w")
        ax.set_ylabel("h")
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="weight")
    suptitle(
        fig,
        f"attention of query {(qt, qh, qw)} (token {i}) over its {wd}x{wh}x{ww} window; "
        f"sum = {values.sum():.3f}",
    )
    finish(fig)
    return fig
