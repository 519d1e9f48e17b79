"""The shifted-window attention mask, drawn (paper Sec. 3.2; chapter 5 and the mask debugger).

Inside a rolled window, tokens of different regions were not neighbours in the video and must
not attend.  These figures show one window's ``(N, N)`` mask (block-diagonal once the tokens are
sorted by region), whom one query token may attend to on the original and on the rolled grid,
and where a learner's mask differs from the correct one.

A mask argument may be boolean (True = may attend), additive float (0 = may attend, anything
``<= -1`` such as -100, -1e4 or -inf = masked) of shape ``(nW, N, N)``, or a callable
``mask(dhw, window_size, shift_size)`` returning one (the contract of
:func:`vswin_edu.reference.mask_mismatches`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .. import style
from ..geometry import (
    WindowGeometry,
    locate_token,
    original_to_rolled,
    rolled_to_original,
    window_geometry,
    window_positions,
)
from ..reference import MaskLike, allowed_pairs, mask_mismatches, resolve_mask
from ..shift import window_region_ids
from ._draw import (
    board_size,
    draw_borders,
    draw_cells,
    figure_legend,
    finish,
    label_board,
    legend_patch,
    new_figure,
    suptitle,
)

__all__ = ["plot_mask_matrix", "plot_attend_to", "plot_mask_diff", "resolve_mask"]

_OUTSIDE = "#F2F2F2"  # tokens outside the query's window


def _check_token(geo: WindowGeometry, query_index: int | None) -> None:
    """Raise ``ValueError`` unless ``query_index`` is None or a token number of a window."""
    N = geo.tokens_per_window
    if query_index is not None and (
        isinstance(query_index, bool) or not isinstance(query_index, int) or not 0 <= query_index < N
    ):
        raise ValueError(f"query_index must be a token number in [0, {N}) or None, got {query_index!r}")


def _region_strips(ax, regions: list[int]) -> None:
    """Each token's region colour (and hatch) along the top and the left of the matrix."""
    for hatch in sorted({style.region_hatch(r) for r in regions}):
        ks = [k for k, r in enumerate(regions) if style.region_hatch(r) == hatch]
        rects = [Rectangle((k - 0.5, -2.0), 1, 1.2) for k in ks] + [
            Rectangle((-2.0, k - 0.5), 1.2, 1) for k in ks
        ]
        colors = [style.region_color(regions[k]) for k in ks] * 2
        ax.add_collection(
            PatchCollection(rects, facecolors=colors, hatch=hatch or None, linewidth=0, clip_on=False)
        )


def _outline_row(ax, row: int, N: int) -> None:
    """Outline the query's mask row and column (the mask is symmetric)."""
    outline = dict(fill=False, edgecolor=style.QUERY_COLOR, linewidth=2.5 * style.figure_scale())
    ax.add_patch(Rectangle((-0.5, row - 0.5), N, 1, **outline))
    ax.add_patch(Rectangle((row - 0.5, -0.5), 1, N, linestyle="--", **outline))


def plot_mask_matrix(
    dhw: Sequence[int],
    window_size: Sequence[int],
    shift_size: Sequence[int],
    window_index: int,
    sort_by_region: bool = False,
    mask: MaskLike | None = None,
    query_index: int | None = None,
) -> Figure:
    """The ``(N, N)`` mask of one window: light = may attend, dark = masked.

    Query ``i`` is the row, key ``j`` the column, tokens in raster order inside the window.  The
    coloured strips along the top and left give each token's region id.  With
    ``sort_by_region=True`` rows and columns are reordered by region and the mask becomes
    block-diagonal (thick lines at the region boundaries) — and visibly symmetric.

    Args:
        dhw, window_size, shift_size: the grid (padded to window multiples if needed), window, shift.
        window_index: which window, in raster order.
        mask: a mask to draw instead of the correct one (see the module docstring).
        query_index: outline this token's row and column (its mask row), token number in the window.

    Returns:
        A figure with one axes.
    """
    geo = window_geometry(dhw, window_size, shift_size)
    window_positions(window_index, geo.padded, geo.window)  # checks that the window exists
    _check_token(geo, query_index)
    allowed = allowed_pairs(mask, geo)[window_index]  # (N, N)
    regions = window_region_ids(geo.padded, geo.window, geo.shift)[window_index]  # (N,)
    N = regions.numel()
    order = torch.sort(regions, stable=True).indices if sort_by_region else torch.arange(N)
    allowed, regions = allowed[order][:, order], regions[order]  # (N, N), (N,)
    fig, axes = new_figure(1, 1, (min(8.0, 1.5 + 0.22 * N), min(8.0, 1.8 + 0.22 * N)))
    ax = axes[0, 0]
    colors = [[style.ALLOWED_COLOR if a else style.MASKED_COLOR for a in row] for row in allowed.tolist()]
    draw_cells(ax, colors)
    _region_strips(ax, regions.tolist())
    if sort_by_region:
        edges = [k for k in range(1, N) if regions[k] != regions[k - 1]]
        ax.hlines([e - 0.5 for e in edges], -0.5, N - 0.5, colors="#EE7733", linewidth=2)
        ax.vlines([e - 0.5 for e in edges], -0.5, N - 0.5, colors="#EE7733", linewidth=2)
    if query_index is not None:
        _outline_row(ax, int((order == query_index).nonzero()[0]), N)
    ax.set_xlim(-2.2, N - 0.5)
    ax.set_ylim(N - 0.5, -2.2)
    ax.set_xlabel("key j" + (" (sorted by region)" if sort_by_region else ""))
    ax.set_ylabel("query i" + (" (sorted by region)" if sort_by_region else ""))
    ax.set_xticks([])
    ax.set_yticks([])
    n_allowed = int(allowed.sum())
    distinct = sorted(set(regions.tolist()))
    ax.set_title(
        f"window {window_index}: {N}x{N} mask, {n_allowed} of {N * N} pairs may attend\n"
        f"regions {distinct} (strips)"
    )
    strips = [
        legend_patch(f"strip: region {r}", style.region_color(r), style.region_hatch(r)) for r in distinct
    ]
    figure_legend(fig, _mask_legend() + strips[:9])
    finish(fig)
    return fig


def _mask_legend() -> list[Patch]:
    """Legend entries of the two cell kinds of a mask matrix."""
    return [
        legend_patch("may attend", style.ALLOWED_COLOR),
        legend_patch("masked", style.MASKED_COLOR),
    ]


def plot_attend_to(
    dhw: Sequence[int],
    window_size: Sequence[int],
    shift_size: Sequence[int],
    query: Sequence[int],
    mask: MaskLike | None = None,
) -> Figure:
    """Whom may the token at ``query`` attend to?  Drawn on the original and on the rolled grid.

    ``query`` is ``(t, h, w)`` in the original (un-rolled) coordinates of the padded grid.  The top
    row shows the original frames that the query's (rolled) window draws on, the bottom row the
    rolled frames of that window.  Keys the query may attend to are filled with the query's region
    colour, keys of its window that are masked are dark and cross-hatched, tokens outside the
    window are pale; the query itself is marked ``Q`` and every window token carries its region id.

    Args:
        mask: draw the "may attend" row of this mask instead of the correct one; keys where it is
            wrong are drawn like in :func:`plot_mask_diff` (yellow ``xx`` = wrongly allowed, orange
            ``//`` = wrongly masked).

    Returns:
        A figure with ``2 x P`` axes (P = temporal window size).
    """
    geo = window_geometry(dhw, window_size, shift_size)
    query = tuple(int(a) for a in query)
    k, i, q_rolled = locate_token(query, geo, "query")
    D, H, W = geo.padded
    wd, wh, ww = geo.window
    positions = window_positions(k, geo.padded, geo.window)  # (N, 3) rolled
    allowed = allowed_pairs(mask, geo)[k, i]  # (N,)
    correct = allowed_pairs(None, geo)[k, i]  # (N,)
    regions = window_region_ids(geo.padded, geo.window, geo.shift)[k]  # (N,)
    q_region = int(regions[i])
    fig, axes = new_figure(2, wd, board_size(H, W))
    first = int(positions[0, 0])
    for col in range(wd):
        rolled_t = first + col
        original_t = (rolled_t + geo.shift[0]) % D
        for row, (t, to_board) in enumerate(
            [
                (original_t, lambda p: p),
                (rolled_t, lambda p: original_to_rolled(p, geo.shift, geo.padded)),
            ]
        ):
            colors = [[_OUTSIDE] * W for _ in range(H)]
            hatches = [[""] * W for _ in range(H)]
            labels = [[""] * W for _ in range(H)]
            for j, pos in enumerate(positions.tolist()):
                board = to_board(rolled_to_original(pos, geo.shift, geo.padded))
                if board[0] != t:
                    continue
                h, w = board[1], board[2]
                colors[h][w], hatches[h][w] = _key_style(bool(correct[j]), bool(allowed[j]), q_region)
                labels[h][w] = "Q" if j == i else str(int(regions[j]))
            ax = axes[row, col]
            draw_cells(ax, colors, hatches, labels)
            if row == 0:
                draw_borders(ax, H, W, (wh, ww), geo.shift[1:])
                label_board(ax, H, W, f"original frame t={t}")
            else:
                draw_borders(ax, H, W, (wh, ww))
                label_board(ax, H, W, f"rolled frame t={t}")
    handles = [
        legend_patch(f"Q and the keys it may attend to (region {q_region})", style.region_color(q_region)),
        legend_patch("masked: its window, another region", style.MASKED_COLOR, style.MASKED_HATCH),
        legend_patch("not in its window", _OUTSIDE),
    ]
    if mask is None:
        source = ""
    else:
        wrong = int((allowed != correct).sum())
        source = f"; your mask: {wrong} wrong keys"
        handles += [
            legend_patch("wrongly allowed", style.WRONG_ALLOWED_COLOR, style.WRONG_ALLOWED_HATCH),
            legend_patch("wrongly masked", style.WRONG_MASKED_COLOR, style.WRONG_MASKED_HATCH),
        ]
    suptitle(
        fig,
        f"query {query} -> rolled {q_rolled}, window {k}, token {i}, region {q_region}: "
        f"may attend to {int(allowed.sum())} of {allowed.numel()} tokens{source} (numbers: region ids)",
    )
    figure_legend(fig, handles)
    finish(fig)
    return fig


def plot_mask_diff(
    dhw: Sequence[int],
    window_size: Sequence[int],
    shift_size: Sequence[int],
    user_mask: MaskLike,
    window_index: int | None = None,
    query_index: int | None = None,
) -> Figure:
    """Where ``user_mask`` differs from the correct shifted-window mask, for one window.

    Entries both masks agree on are light (attend) or dark (masked); a pair the user lets through
    but the correct mask forbids is yellow and cross-hatched, a pair the user masks but should allow
    is orange and striped.  The title counts the wrong entries over all windows and names the
    first one in ``(t, h, w)`` video coordinates with region ids
    (:func:`vswin_edu.reference.mask_mismatches`).

    Args:
        user_mask: bool / additive ``(nW, N, N)`` mask or a callable returning one.
        window_index: the window to draw; default the window of the first mismatch (else 0).
        query_index: outline this token's row and column, token number in the window.

    Returns:
        A figure with one axes.
    """
    geo = window_geometry(dhw, window_size, shift_size)
    got = resolve_mask(user_mask, geo.padded, geo.window, geo.shift)  # (nW, N, N)
    wrong = got != allowed_pairs(None, geo)  # (nW, N, N) counted here, only the first one named
    first = mask_mismatches(got, geo.padded, geo.window, geo.shift, limit=1)
    if window_index is None:
        window_index = first[0].window if first else 0
    window_positions(window_index, geo.padded, geo.window)  # checks that the window exists
    _check_token(geo, query_index)
    expected = allowed_pairs(None, geo)[window_index]  # (N, N)
    mine = got[window_index]  # (N, N)
    N = expected.shape[0]
    cells = [
        [_diff_style(e, g) for e, g in zip(e_row, g_row, strict=True)]
        for e_row, g_row in zip(expected.tolist(), mine.tolist(), strict=True)
    ]
    colors = [[c for c, _ in row] for row in cells]
    hatches = [[h for _, h in row] for row in cells]
    fig, axes = new_figure(1, 1, (min(8.0, 2.5 + 0.22 * N), min(8.5, 2.5 + 0.22 * N)))
    ax = axes[0, 0]
    draw_cells(ax, colors, hatches)
    if query_index is not None:
        _outline_row(ax, query_index, N)
    ax.set_xlabel("key j")
    ax.set_ylabel("query i")
    if first:
        head = (
            f"{int(wrong.sum())} wrong entries ({int(wrong[window_index].sum())} in window {window_index}); "
            f"first: {first[0].describe()}"
        )
    else:
        head = f"your mask is correct on all {geo.num_windows} windows"
    ax.set_title(f"window {window_index}")
    ax.legend(
        handles=[
            legend_patch("attend (both)", style.ALLOWED_COLOR),
            legend_patch("masked (both)", style.MASKED_COLOR),
            legend_patch("wrongly allowed", style.WRONG_ALLOWED_COLOR, style.WRONG_ALLOWED_HATCH),
            legend_patch("wrongly masked", style.WRONG_MASKED_COLOR, style.WRONG_MASKED_HATCH),
        ],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize="small",
    )
    suptitle(fig, head)
    finish(fig)
    return fig


def _key_style(expected: bool, got: bool, region: int) -> tuple[str, str]:
    """Colour and hatch of a key of the query's window on the grid."""
    if expected == got:
        return (style.region_color(region), "") if got else (style.MASKED_COLOR, style.MASKED_HATCH)
    if got:
        return style.WRONG_ALLOWED_COLOR, style.WRONG_ALLOWED_HATCH
    return style.WRONG_MASKED_COLOR, style.WRONG_MASKED_HATCH


def _diff_style(expected: bool, got: bool) -> tuple[str, str]:
    """Colour and hatch of one (query, key) entry of the diff matrix."""
    if expected == got:
        return (style.ALLOWED_COLOR if expected else style.MASKED_COLOR), ""
    if got:
        return style.WRONG_ALLOWED_COLOR, style.WRONG_ALLOWED_HATCH
    return style.WRONG_MASKED_COLOR, style.WRONG_MASKED_HATCH
