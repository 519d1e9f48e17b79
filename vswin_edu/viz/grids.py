"""The 3D token grid and its windows (paper Sec. 3.1-3.2; chapters 1 and 3).

A video of ``T x H x W`` pixels becomes a ``D x H/4 x W/4`` grid of tokens (patch ``2 x 4 x 4``),
and the grid is cut into ``P x M x M`` windows.  These figures draw the grid one frame (slice ``t``)
at a time, side by side, or as an isometric stack of voxels.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import style
from .._checks import triple
from ..geometry import shifted_window_ids, window_geometry
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

__all__ = ["plot_token_grid", "plot_windows"]

MAX_VOXELS = 4096  # 16 x 16 x 16; beyond this ax.voxels takes many seconds
_CHECKER = ("#F4F4F4", "#D8D8E8")  # two pale greys: neighbouring tokens told apart


def plot_token_grid(
    dhw: Sequence[int], patch_size: Sequence[int] = (2, 4, 4), video_thw: Sequence[int] | None = None
) -> Figure:
    """The token grid ``(D, H, W)``, one slice per token frame (at most 8), tokens numbered in raster order.

    With ``video_thw`` the slices are drawn over the video's pixels: thin lines mark pixels, thick
    lines the ``patch_size`` patches, and hatching the zero padding that rounds the video up to a
    multiple of the patch (``PatchEmbed3D`` pads like torchvision).

    Args:
        dhw: token grid ``(D, H, W)``; with ``video_thw`` it must equal ``ceil(video / patch)``.
        patch_size: ``(2, 4, 4)`` in the paper.
        video_thw: the video size ``(T, H, W)`` in frames and pixels, optional.

    Returns:
        A figure with one axes per shown slice.
    """
    D, H, W = triple(tuple(dhw), "dhw")
    pt, ph, pw = triple(patch_size, "patch_size")
    if video_thw is not None:
        T, Hv, Wv = triple(tuple(video_thw), "video_thw")
        expected = (-(-T // pt), -(-Hv // ph), -(-Wv // pw))
        if expected != (D, H, W):
            raise ValueError(
                f"dhw must be ceil(video_thw / patch_size) = {expected} for video_thw {(T, Hv, Wv)} "
                f"and patch_size {(pt, ph, pw)}, got {(D, H, W)}"
            )
    frames = frames_to_show(D, None)
    fig, axes = new_figure(1, len(frames), board_size(H, W))
    colors = [[_CHECKER[(h + w) % 2] for w in range(W)] for h in range(H)]
    for ax, t in zip(axes[0], frames, strict=True):
        labels = [[str(t * H * W + h * W + w) for w in range(W)] for h in range(H)]
        draw_cells(ax, colors, labels=labels)
        title = f"token frame t={t}"
        if video_thw is not None:
            title += f"\nframes {t * pt}..{t * pt + pt - 1}"
            _draw_pixels(ax, H, W, (ph, pw), (Hv, Wv))
        label_board(ax, H, W, title)
    shown = "" if len(frames) == D else f" (first {len(frames)} of {D} frames shown)"
    head = f"{D}x{H}x{W} = {D * H * W} tokens{shown}"
    if video_thw is not None:
        head = f"video {T}x{Hv}x{Wv} -> patches {pt}x{ph}x{pw} -> " + head
    suptitle(fig, head)
    if video_thw is not None and (Hv < H * ph or Wv < W * pw):
        figure_legend(fig, [legend_patch("zero padding (pixels)", "#FFFFFF", "xx")])
    finish(fig)
    return fig


def _draw_pixels(ax, H: int, W: int, patch_hw: tuple[int, int], video_hw: tuple[int, int]) -> None:
    """Pixel lines inside each token cell and hatching over the padded pixels."""
    (ph, pw), (Hv, Wv) = patch_hw, video_hw
    fine = dict(colors="#999999", linewidth=0.4)
    ax.hlines([k / ph - 0.5 for k in range(1, H * ph) if k % ph], -0.5, W - 0.5, **fine)
    ax.vlines([k / pw - 0.5 for k in range(1, W * pw) if k % pw], -0.5, H - 0.5, **fine)
    draw_borders(ax, H, W, (1, 1))
    pad = dict(fill=False, hatch="xx", edgecolor="#777777", linewidth=0)
    if Hv < H * ph:
        ax.add_patch(Rectangle((-0.5, Hv / ph - 0.5), W, H - Hv / ph, **pad))
    if Wv < W * pw:
        ax.add_patch(Rectangle((Wv / pw - 0.5, -0.5), W - Wv / pw, H, **pad))


def plot_windows(
    dhw: Sequence[int],
    window_size: Sequence[int],
    shift_size: Sequence[int] = (0, 0, 0),
    view: str = "slices",
    frame: int | None = None,
) -> Figure:
    """Tokens coloured by the window they belong to (paper Fig. 2 / Sec. 3.2).

    Windows are numbered in raster order over the window grid, as :func:`window_partition` orders
    them.  With a non-zero ``shift_size`` the windows are those of the *shifted* partition drawn at
    the tokens' original positions, so the pieces that wrap round the borders share a colour.  The
    grid is padded to window multiples (padded tokens faded) and the window clamped to the grid
    (:func:`vswin_edu.windows.effective_window`).

    Args:
        dhw: token grid ``(D, H, W)``.
        window_size: ``(P, M, M)``.
        shift_size: ``(0, 0, 0)`` for regular windows, e.g. ``(P/2, M/2, M/2)`` for shifted ones.
        view: ``"slices"`` (one board per frame, at most 8) or ``"voxels"`` (one isometric 3D view).
        frame: with ``view="slices"``, draw only this frame.

    Returns:
        A figure with one axes per shown frame, or one 3D axes.
    """
    if view not in ("slices", "voxels"):
        raise ValueError(f"view must be 'slices' or 'voxels', got {view!r}")
    geo = window_geometry(dhw, window_size, shift_size)
    if view == "voxels" and prod(geo.padded) > MAX_VOXELS:
        raise ValueError(
            f"view='voxels' draws at most {MAX_VOXELS} tokens (matplotlib draws each voxel's faces), "
            f"the padded grid {geo.padded} has {prod(geo.padded)}; use view='slices' or a smaller grid"
        )
    ids = shifted_window_ids(geo.padded, geo.window, geo.shift)  # (D, H, W)
    real = np.zeros(geo.padded, dtype=bool)  # (D, H, W) True for tokens of the video, False for padding
    real[: geo.dhw[0], : geo.dhw[1], : geo.dhw[2]] = True
    kind = "shifted " if any(geo.shift) else ""
    head = (
        f"{geo.num_windows} {kind}windows of {'x'.join(map(str, geo.window))} "
        f"(N={geo.tokens_per_window}) on {'x'.join(map(str, geo.dhw))} tokens"
    )
    if any(geo.shift):
        head += f", shift {geo.shift}"
    if geo.clamped:
        head += " (window clamped to the grid)"
    if view == "voxels":
        fig = _voxels(ids, real)
    else:
        fig = _slices(ids, real, geo, frames_to_show(geo.padded[0], frame))
    suptitle(fig, head)
    finish(fig)
    return fig


def _slices(ids, real: np.ndarray, geo, frames: list[int]) -> Figure:
    D, H, W = geo.padded
    fig, axes = new_figure(1, len(frames), board_size(H, W))
    for ax, t in zip(axes[0], frames, strict=True):
        frame = ids[t].tolist()
        colors = [[style.window_color(i) for i in row] for row in frame]
        hatches = [[style.window_hatch(i) for i in row] for row in frame]
        labels = [[str(i) for i in row] for row in frame]
        draw_cells(ax, colors, hatches, labels, alpha=np.where(real[t], 1.0, 0.3))
        draw_borders(ax, H, W, geo.window[1:], geo.shift[1:])
        temporal = (t - geo.shift[0]) % D // geo.window[0]
        label_board(ax, H, W, f"t={t} (window slab {temporal})")
    return fig


def _voxels(ids, real: np.ndarray) -> Figure:
    D, H, W = ids.shape
    fig, axes = new_figure(1, 1, (5.5, 5.0), subplot_kw={"projection": "3d"})
    ax = axes[0, 0]
    # voxel axes: x = w, y = t, z = h flipped so that row h = 0 is on top as in the slice view
    ids_xyz = ids.permute(2, 0, 1).flip(2).numpy()  # (W, D, H)
    real_xyz = np.flip(real.transpose(2, 0, 1), axis=2)  # (W, D, H)
    colors = np.empty(ids_xyz.shape, dtype=object)
    for index, i in np.ndenumerate(ids_xyz):
        colors[index] = style.window_color(i) + ("ff" if real_xyz[index] else "40")
    ax.voxels(np.ones_like(ids_xyz, dtype=bool), facecolors=colors, edgecolor="#333333", linewidth=0.3)
    pad = 12 * style.figure_scale()  # 3D axis labels sit clear of the tick labels
    ax.set_xlabel("w", labelpad=pad)
    ax.set_ylabel("t", labelpad=pad)
    ax.set_zlabel("h (row 0 on top)", labelpad=pad)
    ax.set_box_aspect((W, D, H), zoom=0.85)  # room for the axis labels inside the figure
    ax.set_xticks(range(0, W + 1, max(1, W // 4)))
    ax.set_yticks(range(0, D + 1, max(1, D // 4)))
    ax.set_zticks(range(0, H + 1, max(1, H // 4)))
    ax.set_title("voxel view")
    return fig
