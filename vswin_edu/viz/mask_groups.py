"""The windows of a shifted grid grouped by their mask pattern (paper Sec. 3.2; appendix 14).

After the cyclic shift only the *last* window along a shifted axis meets a wrapped piece, so a
shifted grid has at most ``2^3 = 8`` distinct ``(N, N)`` mask patterns, and every window that is
last along no axis has the all-zero mask.  :func:`plot_mask_groups` colours each window of the
rolled grid by its group (the groups :func:`vswin_edu.fast.shifted_window_groups` uses, found here by
comparing the masks themselves: ``viz`` does not import the fast route), which is why the fast route
adds one ``(nH, N, N)`` mask per group instead of building an ``(nW, nH, N, N)`` tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from .. import style
from .._checks import shift_triple, triple
from ..geometry import window_ids
from ..shift import shifted_window_mask
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
)

__all__ = ["mask_group_ids", "plot_mask_groups"]


def mask_group_ids(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> tuple[torch.Tensor, tuple[int, ...], list[bool]]:
    """The mask group of every window, on the rolled, padded grid ``dhw`` (a multiple of the window).

    Windows are grouped by comparing their ``(N, N)`` masks (:func:`vswin_edu.shift.shifted_window_mask`)
    — the same groups as :func:`vswin_edu.fast.shifted_window_groups`, found without it; groups are
    numbered in the order their first window appears (group 0 holds window 0).

    Returns ``(group (D, H, W) LongTensor: the group of each token's window, sizes: windows per
    group, all_zero: whether each group's pattern masks nothing)``.
    """
    grid, window, shift = (
        triple(tuple(dhw), "dhw"),
        triple(window_size, "window_size"),
        shift_triple(shift_size),
    )
    mask = shifted_window_mask(grid, window, shift)  # (nW, N, N); also checks the arguments
    patterns, inverse = torch.unique(mask.flatten(1), dim=0, return_inverse=True)  # (G, N*N), (nW,)
    first = {}  # pattern -> group number, in order of the first window that has it
    for k in inverse.tolist():
        first.setdefault(k, len(first))
    of_window = torch.tensor([first[k] for k in inverse.tolist()], dtype=torch.long)  # (nW,)
    sizes = tuple(int((of_window == g).sum()) for g in range(len(first)))
    by_group = sorted(first, key=first.get)  # pattern index of each group
    all_zero = [bool((patterns[k] == 0).all()) for k in by_group]
    return of_window[window_ids(grid, window)], sizes, all_zero  # (D, H, W)


def plot_mask_groups(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int], frame: int | None = None
) -> Figure:
    """One board per frame of the rolled grid: each token coloured (and numbered) by its window's mask group.

    Args:
        dhw: the padded token grid ``(D, H, W)``, a multiple of the window on every axis.
        window_size: the effective window ``(P, M, M)``.
        shift_size: the effective shift of the SW-MSA block (``(0, 0, 0)``: one group).
        frame: draw only this frame (default: all frames, up to 8).

    Returns:
        A figure with one axes per frame and a legend giving each group's size; the group whose
        pattern masks nothing is marked "all-zero mask".
    """
    group, sizes, all_zero = mask_group_ids(dhw, window_size, shift_size)
    D, H, W = group.shape
    window = triple(window_size, "window_size")
    frames = frames_to_show(D, frame)
    fig, axes = new_figure(1, len(frames), board_size(H, W))
    for ax, t in zip(axes[0], frames, strict=True):
        ids = group[t].tolist()
        colors = [[style.window_color(g) for g in row] for row in ids]
        hatches = [[style.window_hatch(g) for g in row] for row in ids]
        labels = [[str(g) for g in row] for row in ids]
        draw_cells(ax, colors, hatches=hatches, labels=labels)
        draw_borders(ax, H, W, window[1:])
        label_board(ax, H, W, f"t = {t} (rolled grid)")
    handles = [
        legend_patch(
            f"group {g}: {n} window{'s' if n > 1 else ''}" + (" (all-zero mask)" if all_zero[g] else ""),
            style.window_color(g),
            style.window_hatch(g),
        )
        for g, n in enumerate(sizes)
    ]
    figure_legend(fig, handles)
    nW = sum(sizes)
    suptitle(fig, f"{nW} windows, {len(sizes)} mask pattern(s): one (N, N) mask per group instead of {nW}")
    finish(fig)
    return fig
