"""Shifted windows: the cyclic shift, naive padding vs the roll, and region ids (Sec. 3.2; chapters 4-5).

The cyclic shift rolls the grid by ``-shift`` so that the displaced windows line up with the
regular window grid again.  These figures number the tokens so that "where does token (0,0,0)
land?" can be read off, compare the window count with naive padding, and colour the regions that
the attention mask keeps apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import style
from ..geometry import original_to_rolled, rolled_to_original, shifted_window_ids, window_geometry
from ..shift import region_ids
from ._draw import (
    board_size,
    draw_borders,
    draw_cells,
    figure_legend,
    finish,
    frames_to_show,
    label_board,
    legend_patch,
    new_figure,
    suptitle,
    token_number,
)

__all__ = ["plot_cyclic_shift", "plot_padding_vs_cyclic", "plot_region_ids", "naive_window_counts"]

_WRAPPED_HATCH = "//"


def plot_cyclic_shift(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int], frame: int = 0
) -> Figure:
    """One frame of the grid before and after the cyclic shift, tokens numbered ``t*H*W + h*W + w``.

    Left: the original frame ``frame`` with the *shifted* windows (colours, thick borders at
    ``shift + k*M``).  Right: rolled frame ``frame`` (which holds original frame
    ``(frame + sd) mod D``) with the regular windows.  A token keeps its colour and number, so each
    one can be followed across the roll; the tokens that wrap round a border (the moved
    sub-windows) in h or w are hatched in both panels; the title says whether the frame wraps in time.

    Returns:
        A figure with two axes (before, after).
    """
    geo = window_geometry(dhw, window_size, shift_size)
    D, H, W = geo.padded
    (frame,) = frames_to_show(D, frame)
    ids = shifted_window_ids(geo.padded, geo.window, geo.shift)  # (D, H, W)
    in_time = "\n(wraps round in time)" if frame < geo.shift[0] else ""
    fig, axes = new_figure(1, 2, board_size(H, W))
    before, after = axes[0]
    # before: original positions p = (frame, h, w)
    colors, hatches, labels = _numbered(lambda h, w: (frame, h, w), ids, geo)
    draw_cells(before, colors, hatches, labels)
    draw_borders(before, H, W, geo.window[1:], geo.shift[1:])
    label_board(before, H, W, f"before: original frame t={frame}{in_time}\nshifted windows")
    # after: rolled position q = (frame, h, w) holds the token from original (q + s) mod L
    colors, hatches, labels = _numbered(
        lambda h, w: rolled_to_original((frame, h, w), geo.shift, geo.padded), ids, geo
    )
    draw_cells(after, colors, hatches, labels)
    draw_borders(after, H, W, geo.window[1:])
    source = (frame + geo.shift[0]) % D
    label_board(after, H, W, f"after roll by -{geo.shift}: frame t={frame}\n(original frame {source})")
    lands = original_to_rolled((0, 0, 0), geo.shift, geo.padded)
    suptitle(
        fig,
        f"cyclic shift of {D}x{H}x{W} tokens, window {geo.window}: token (0,0,0) lands at {lands}; "
        f"hatched tokens wrap round",
    )
    figure_legend(
        fig,
        [
            legend_patch("colour: its shifted window", style.window_color(0)),
            legend_patch("hatched: wraps round in h or w", style.window_color(0), _WRAPPED_HATCH),
        ],
    )
    finish(fig)
    return fig


def _numbered(
    position, ids, geo, number_tokens: bool = True
) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """Colours (window ids), hatches (wrapped tokens) and labels of one board.

    ``position(h, w)`` gives the original token drawn in cell ``(h, w)``; it is labelled with its
    token number, or with its window id when ``number_tokens`` is False.
    """
    _, H, W = geo.padded
    colors, hatches, labels = [], [], []
    for h in range(H):
        row_c, row_h, row_l = [], [], []
        for w in range(W):
            p = position(h, w)
            wrapped = p[1] < geo.shift[1] or p[2] < geo.shift[2]  # wraps round in h or w
            row_c.append(style.window_color(int(ids[p])))
            row_h.append(_WRAPPED_HATCH if wrapped else "")
            row_l.append(str(token_number(p, geo.padded) if number_tokens else int(ids[p])))
        colors.append(row_c)
        hatches.append(row_h)
        labels.append(row_l)
    return colors, hatches, labels


def naive_window_counts(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Windows per axis without the roll (naive padding) and with it (cyclic shift).

    The displaced windows start at ``s + k*w`` (the windows the cyclic shift lines up), so without
    the roll the axis needs ``w - s`` padding in front: ``ceil((L - s) / w) + 1`` windows per shifted
    axis (``ceil(L / w)`` when ``s = 0``); the cyclic shift keeps ``ceil(L / w)``.  Uses the
    effective window.

    Returns:
        ``(naive, cyclic)`` windows per axis ``(D, H, W)``.
    """
    geo = window_geometry(dhw, window_size, shift_size)
    naive = tuple(-(-(n + f) // w) for n, w, f in zip(geo.dhw, geo.window, _front_pad(geo), strict=True))
    return naive, geo.window_grid  # type: ignore[return-value]


def _front_pad(geo) -> tuple[int, int, int]:
    """Padding in front of each axis that aligns naive windows with the shifted ones: ``(w - s) % w``."""
    return tuple((w - s) % w for w, s in zip(geo.window, geo.shift, strict=True))  # type: ignore[return-value]


def plot_padding_vs_cyclic(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int], frame: int = 0
) -> Figure:
    """Naive padding vs cyclic shift, side by side, with the window counts in the titles.

    Left: the shifted windows without the roll — the grid is padded by ``w - s`` in front and up to
    a window multiple behind (hatched grey), and a shifted axis usually gains a slab of windows.
    Right: the rolled grid, where the same shifted windows are regular windows again and the count
    stays ``ceil(D/P) ceil(H/M) ceil(W/M)``.

    Returns:
        A figure with two axes (padding, cyclic).
    """
    geo = window_geometry(dhw, window_size, shift_size)
    (frame,) = frames_to_show(geo.dhw[0], frame)
    naive, cyclic = naive_window_counts(dhw, window_size, shift_size)
    _, wh, ww = geo.window
    fd, fh, fw = _front_pad(geo)
    Hn, Wn = naive[1] * wh, naive[2] * ww  # the naively padded board
    fig, axes = new_figure(1, 2, board_size(max(Hn, geo.padded[1]), max(Wn, geo.padded[2])))
    left, right = axes[0]
    colors = [[style.PAD_COLOR] * Wn for _ in range(Hn)]
    hatches = [["xx"] * Wn for _ in range(Hn)]
    labels = [[""] * Wn for _ in range(Hn)]
    t_slab = (frame + fd) // geo.window[0]
    for h in range(geo.dhw[1]):
        for w in range(geo.dhw[2]):
            i = (t_slab * naive[1] + (h + fh) // wh) * naive[2] + (w + fw) // ww
            colors[h + fh][w + fw], hatches[h + fh][w + fw] = style.window_color(i), ""
            labels[h + fh][w + fw] = str(i)
    draw_cells(left, colors, hatches, labels)
    draw_borders(left, Hn, Wn, (wh, ww))
    n_naive, n_cyclic = int(np.prod(naive)), int(np.prod(cyclic))
    label_board(left, Hn, Wn, f"naive padding, frame {frame}\nnW = {_product(naive)} = {n_naive}")
    _, H, W = geo.padded
    rolled = original_to_rolled((frame, 0, 0), geo.shift, geo.padded)[0]
    colors, hatches, labels = _numbered(
        lambda h, w: rolled_to_original((rolled, h, w), geo.shift, geo.padded),
        shifted_window_ids(geo.padded, geo.window, geo.shift),
        geo,
        number_tokens=False,
    )
    draw_cells(right, colors, hatches, labels)
    draw_borders(right, H, W, geo.window[1:])
    label_board(right, H, W, f"cyclic shift, rolled frame {rolled}\nnW = {_product(cyclic)} = {n_cyclic}")
    suptitle(
        fig,
        f"{'x'.join(map(str, geo.dhw))} tokens, window {geo.window}, shift {geo.shift}: padding needs "
        f"{n_naive} windows, the cyclic shift keeps {n_cyclic}",
    )
    figure_legend(
        fig,
        [
            legend_patch("colour and number: window id", style.window_color(0)),
            legend_patch("zero padding (naive)", style.PAD_COLOR, "xx"),
            legend_patch("hatched: wrapped round by the roll", style.window_color(0), _WRAPPED_HATCH),
        ],
    )
    finish(fig)
    return fig


def _product(counts: Sequence[int]) -> str:
    return "·".join(map(str, counts))


def plot_region_ids(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int], frame: int | None = None
) -> Figure:
    """Region ids of the rolled grid (:func:`vswin_edu.shift.region_ids`), regular window borders drawn.

    The id is ``9*r_d + 3*r_h + r_w``: colour shows the spatial slices ``(r_h, r_w)`` and hatching
    the temporal slice ``r_d`` (see :func:`vswin_edu.style.region_color`).  Inside one window, two
    tokens may attend iff their ids agree.

    Args:
        frame: draw only this rolled frame; ``None`` draws every frame (at most 8).

    Returns:
        A figure with one axes per drawn frame.
    """
    geo = window_geometry(dhw, window_size, shift_size)
    D, H, W = geo.padded
    frames = frames_to_show(D, frame)
    regions = region_ids(geo.padded, geo.window, geo.shift)  # (D, H, W)
    fig, axes = new_figure(1, len(frames), board_size(H, W))
    for ax, t in zip(axes[0], frames, strict=True):
        board = regions[t].tolist()
        draw_cells(
            ax,
            [[style.region_color(r) for r in row] for row in board],
            [[style.region_hatch(r) for r in row] for row in board],
            [[str(r) for r in row] for row in board],
        )
        draw_borders(ax, H, W, geo.window[1:])
        label_board(ax, H, W, f"rolled frame t={t}")
    distinct = int(regions.unique().numel())
    suptitle(
        fig,
        f"region ids after the roll ({D}x{H}x{W}, window {geo.window}, shift {geo.shift}): "
        f"{distinct} regions; tokens of one window attend iff their ids agree",
    )
    slices = sorted({int(r) // 9 for r in regions.unique()})
    figure_legend(
        fig,
        [legend_patch("colour: spatial slices (r_h, r_w)", style.region_color(0))]
        + [legend_patch(f"temporal slice r_d = {d}", "#FFFFFF", style.REGION_HATCHES[d]) for d in slices],
    )
    finish(fig)
    return fig
