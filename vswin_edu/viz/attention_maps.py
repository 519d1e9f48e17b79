"""Inference and analysis figures: attention maps over frames, receptive fields, views, ablations
(paper Sec. 3.2 and 4.3-4.4; chapter 12).

* :func:`collect_attention` / :func:`attention_grid` — the weights of one (S)W-MSA layer for one query
  token, put back on the token grid (un-rolled, un-padded); :func:`plot_attention_over_frames`
  overlays them on the video.
* :func:`receptive_field` — *exact* flood fill: after ``k`` blocks, which tokens can have influenced
  a token, with 3D, spatial-only or no shift (the paper's shift ablation made visible).
* :func:`plot_multi_view` — temporal clips and spatial crops of multi-view testing ("why 12 views?").
* :func:`plot_ablation` — toy numbers beside the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import style
from .._checks import shift_triple, triple
from ..geometry import WindowGeometry, locate_token, window_ids, window_positions
from ..shift import region_ids
from ..windows import effective_window, pad_sizes
from ._draw import (
    draw_cells,
    figure_legend,
    finish,
    label_board,
    legend_patch,
    new_figure,
    suptitle,
    wrap,
)

__all__ = [
    "collect_attention",
    "attention_grid",
    "receptive_field",
    "plot_attention_over_frames",
    "plot_receptive_field",
    "plot_multi_view",
    "plot_ablation",
]

Size3 = tuple[int, int, int]
_REACH_COLORS = ("#222255", "#4477AA", "#66CCEE", "#228833", "#CCBB44", "#EE6677", "#AA3377", "#BBBBBB")


def _query(query: Sequence[int], dhw: Size3) -> Size3:
    q = tuple(int(v) for v in query)
    if len(q) != 3 or any(not 0 <= a < n for a, n in zip(q, dhw, strict=True)):
        raise ValueError(f"query must be (t, h, w) inside the token grid {dhw}, got {tuple(query)}")
    return q  # type: ignore[return-value]


def collect_attention(
    model, video: torch.Tensor, stage: int, block: int
) -> tuple[torch.Tensor, Size3, Size3, Size3]:
    """The attention weights of block ``block`` of stage ``stage`` for one clip, by the model's own
    :meth:`~vswin_edu.model.VideoSwinTransformer.trace_attention` (in eval mode).

    Returns ``(weights (nW, nH, N, N), dhw, window, shift)``: the attention of the windows of the
    padded, cyclically shifted grid of one clip (``video`` is ``(1, 3, T, H, W)``), the block's
    input grid and its effective window and shift.
    """
    if video.dim() != 5 or video.shape[0] != 1:
        raise ValueError(f"video must be one clip (1, 3, T, H, W), got shape {tuple(video.shape)}")
    record = model.eval().trace_attention(video, blocks=[(stage, block)])[stage, block]
    return record.weights, record.dhw, record.window, record.shift


def attention_grid(
    weights: torch.Tensor,
    dhw: Sequence[int],
    window: Sequence[int],
    shift: Sequence[int],
    query: Sequence[int],
) -> torch.Tensor:
    """Attention of the token at ``query = (t, h, w)`` over the token grid, ``(nH, D, H, W)``.

    The weights are indexed in the rolled, padded grid: the query's rolled position picks its window
    and row; each key's weight is put back at its original position (un-roll, then crop the padding).
    Tokens outside the query's window get 0; the masked pieces of a shifted window get ~0 too.
    """
    D, H, W = triple(tuple(dhw), "dhw")
    window, shift = triple(window, "window"), shift_triple(shift)
    pad = pad_sizes((D, H, W), window)
    geo = WindowGeometry((D, H, W), (D + pad[0], H + pad[1], W + pad[2]), window, shift, clamped=False)
    k, n, _ = locate_token(_query(query, (D, H, W)), geo)  # the query's window and row
    nW, nH, N, _ = weights.shape
    if nW != geo.num_windows or N != geo.tokens_per_window:
        raise ValueError(
            f"weights {tuple(weights.shape)} do not fit grid {(D, H, W)} with window {window} "
            f"({geo.num_windows} windows of {geo.tokens_per_window} tokens)"
        )
    keys = window_positions(k, geo.padded, window)  # (N, 3) rolled positions of the window's keys
    grid = torch.zeros(nH, *geo.padded, dtype=weights.dtype)  # (nH, Dp, Hp, Wp) in rolled coordinates
    grid[:, keys[:, 0], keys[:, 1], keys[:, 2]] = weights[k, :, n, :]  # (nH, N) weights of the query row
    grid = torch.roll(grid, shifts=shift, dims=(1, 2, 3))  # back to original positions
    return grid[:, :D, :H, :W]  # (nH, D, H, W)


def receptive_field(
    dhw: Sequence[int],
    window_size: Sequence[int],
    shift_size: Sequence[int],
    num_blocks: int,
    start: Sequence[int],
) -> torch.Tensor:
    """Exact flood fill of the tokens a token can draw information from after ``num_blocks`` blocks.

    Block ``j`` attends inside regular windows (``j`` even) or windows shifted by ``shift_size``
    (``j`` odd, cyclic shift + mask: a token sees exactly the tokens of its own *region* of its
    rolled window).  Windows and shifts are clamped per axis as in the model; padded tokens relay
    nothing (they are re-zeroed every block).  Pass ``shift_size=(0, M//2, M//2)`` for "no temporal
    shift" and ``(0, 0, 0)`` for "no shift".

    Returns:
        ``LongTensor (D, H, W)``: the number of blocks after which each token is first reached
        (0 for ``start`` itself), ``-1`` if it is not reached within ``num_blocks``.
    """
    D, H, W = triple(tuple(dhw), "dhw")
    shift_in = shift_triple(shift_size)
    if not isinstance(num_blocks, int) or num_blocks < 0:
        raise ValueError(f"num_blocks must be a non-negative int, got {num_blocks!r}")
    s0 = _query(start, (D, H, W))
    reached_at = torch.full((D, H, W), -1, dtype=torch.long)
    reached_at[s0] = 0
    for j in range(num_blocks):
        window, shift = effective_window((D, H, W), window_size, shift_in if j % 2 else (0, 0, 0))
        pad = pad_sizes((D, H, W), window)
        padded = (D + pad[0], H + pad[1], W + pad[2])
        groups = window_ids(padded, window) * 27 + region_ids(padded, window, shift)  # rolled grid
        groups = torch.roll(groups, shifts=shift, dims=(0, 1, 2))[:D, :H, :W]  # at original positions
        reached = reached_at >= 0
        new = torch.isin(groups, groups[reached]) & ~reached
        reached_at[new] = j + 1
    return reached_at


def _frames(D: int, limit: int = 8) -> list[int]:
    return list(range(min(D, limit)))


def plot_receptive_field(reached_at: torch.Tensor, title: str = "") -> Figure:
    """One board per temporal token (up to 8): each cell coloured by the block that first reaches it."""
    if reached_at.dim() != 3:
        raise ValueError(f"reached_at must be (D, H, W), got shape {tuple(reached_at.shape)}")
    D, H, W = reached_at.shape
    frames = _frames(D)
    fig, axes = new_figure(1, len(frames), (max(1.8, W * 0.22) + 0.4, max(1.8, H * 0.22) + 0.8))
    for ax, t in zip(axes[0], frames, strict=True):
        k = reached_at[t]
        colors = [
            [_REACH_COLORS[min(int(v), len(_REACH_COLORS) - 1)] if v >= 0 else "#FFFFFF" for v in row]
            for row in k
        ]
        labels = [[str(int(v)) if v >= 0 else "" for v in row] for row in k]
        draw_cells(ax, colors, labels=labels)
        label_board(ax, H, W, f"t = {t}")
    total = int((reached_at >= 0).sum())
    suptitle(fig, title or f"reached tokens (number = first block that reaches them): {total} of {D * H * W}")
    last = int(reached_at.max())
    handles = [legend_patch("the start token (0)", _REACH_COLORS[0])]
    handles += [
        legend_patch(f"reached in block {k}", _REACH_COLORS[min(k, len(_REACH_COLORS) - 1)])
        for k in range(1, last + 1)
    ]
    figure_legend(fig, handles + [legend_patch("not reached", "#FFFFFF")])
    finish(fig)
    return fig


def _frame_image(video: torch.Tensor, frame: int) -> np.ndarray:
    img = video[0, :, frame].permute(1, 2, 0).float()  # (H, W, 3)
    lo, hi = img.min(), img.max()
    return ((img - lo) / (hi - lo + 1e-8)).numpy()


def plot_attention_over_frames(
    video: torch.Tensor,
    attn: torch.Tensor,
    query: Sequence[int],
    patch_size: Sequence[int] = (2, 4, 4),
    title: str = "",
) -> Figure:
    """Overlay one head's attention ``attn (D, H, W)`` (tokens of one stage) on the clip's frames.

    ``video`` is ``(1, 3, T, H, W)``; token frame ``t`` is drawn on video frame ``t * patch_t * stride``
    where the stride maps tokens to pixels.  The query token is outlined in its frame.
    """
    if attn.dim() != 3:
        raise ValueError(f"attn must be (D, H, W) for one head, got shape {tuple(attn.shape)}")
    D, Ht, Wt = attn.shape
    T, Hv, Wv = video.shape[2:]
    q = _query(query, (D, Ht, Wt))
    pt = triple(patch_size, "patch_size")[0]
    cell_h, cell_w = Hv / Ht, Wv / Wt
    frames = _frames(D)
    fig, axes = new_figure(1, len(frames), (2.2, 2.4))
    vmax = float(attn.max()) or 1.0
    for ax, t in zip(axes[0], frames, strict=True):
        ax.imshow(_frame_image(video, min(t * pt, T - 1)), extent=(0, Wv, Hv, 0))
        heat = attn[t].float().numpy() / vmax
        ax.imshow(
            heat, cmap="magma", alpha=0.6, vmin=0, vmax=1, extent=(0, Wv, Hv, 0), interpolation="nearest"
        )
        if t == q[0]:
            ax.add_patch(
                Rectangle(
                    (q[2] * cell_w, q[1] * cell_h),
                    cell_w,
                    cell_h,
                    fill=False,
                    edgecolor="#00FF88",
                    linewidth=2.5,
                )
            )
        ax.set_title(f"t = {t} ({attn[t].sum():.2f})")
        ax.axis("off")
    suptitle(fig, title or f"attention of query token {q}; in brackets: weight mass per temporal token")
    finish(fig)
    return fig


def plot_multi_view(
    clip_indices: torch.Tensor, num_frames: int, frame_hw: Sequence[int], crop: int, num_crops: int = 3
) -> Figure:
    """Multi-view testing: the temporal clips on the video's timeline, and the spatial crops.

    ``clip_indices (num_clips, clip_len)`` are frame indices (:func:`vswin_edu.data.multi_view_indices`);
    crops are squares of side ``crop`` along the longer side after resizing the shorter side to
    ``crop`` (:func:`vswin_edu.data.spatial_crops`).  Views = clips x crops (paper: 4 x 3 = 12 on K400).
    The crops overlap, so each one gets its own small frame: the crop filled, the rest of the frame grey.
    """
    if clip_indices.dim() != 2:
        raise ValueError(f"clip_indices must be (num_clips, clip_len), got {tuple(clip_indices.shape)}")
    if isinstance(num_crops, bool) or not isinstance(num_crops, int) or not 1 <= num_crops <= 5:
        raise ValueError(f"num_crops must be an int in [1, 5], got {num_crops!r}")
    num_clips = clip_indices.shape[0]
    H, W = (int(v) for v in frame_hw)
    scale = crop / min(H, W)
    h, w = max(crop, round(H * scale)), max(crop, round(W * scale))
    fig, axes = new_figure(
        1, 1 + num_crops, (2.4, 3.0), gridspec_kw={"width_ratios": [2.2 * num_crops] + [w / h] * num_crops}
    )
    ax = axes[0, 0]
    for k in range(num_clips):
        ax.scatter(clip_indices[k].tolist(), [k] * clip_indices.shape[1], s=8, color=style.window_color(k))
    ax.set_xlim(-1, num_frames)
    ax.set_yticks(range(num_clips))
    ax.set_yticklabels([f"clip {k}" for k in range(num_clips)])
    ax.set_ylim(num_clips - 0.5, -0.5)
    ax.set_xlabel(f"frame index (video of {num_frames} frames)")
    ax.set_title(wrap(f"{num_clips} temporal clip(s) of {clip_indices.shape[1]} frames", 4.0, "large"))
    long_side = max(h, w)
    offsets = (
        [(long_side - crop) // 2]
        if num_crops == 1
        else [round(j * (long_side - crop) / (num_crops - 1)) for j in range(num_crops)]
    )
    for j, o in enumerate(offsets):
        ax = axes[0, 1 + j]
        x, y = (o, (h - crop) // 2) if w > h else ((w - crop) // 2, o)
        ax.add_patch(Rectangle((0, 0), w, h, facecolor="#DDDDDD", edgecolor="black"))
        ax.add_patch(
            Rectangle((x, y), crop, crop, facecolor=style.window_color(j), edgecolor="black", linewidth=2,
                      hatch=style.window_hatch(j))
        )  # fmt: skip
        ax.set_xlim(-0.02 * w, 1.02 * w)
        ax.set_ylim(1.02 * h, -0.02 * h)
        ax.set_aspect("equal")
        ax.set_xticks([x, x + crop] if w > h else [0, w])  # where the crop starts and ends
        ax.set_yticks([])
        ax.set_title(f"crop {j}")
    suptitle(
        fig,
        f"{num_clips} clips x {num_crops} crops = {num_clips * num_crops} views, scores averaged; "
        f"crops of {crop}² in a {h}x{w} frame",
    )
    finish(fig)
    return fig


def plot_ablation(
    results: Mapping[str, tuple[float, float | None]], metric: str = "toy", title: str = ""
) -> Figure:
    """An ablation beside the paper: ``{setting: (toy value, paper top-1 or None)}``, two panels.

    Both panels use the same honest scale, 0-100 %, with bars starting at zero: the toy value is a
    fraction in [0, 1] (an accuracy, a share of tokens) drawn in percent, the paper's top-1 is in
    percent already.  So a 0.3-point difference of the paper looks as small as it is, next to the
    tens of points a toy task can show.
    """
    if not results:
        raise ValueError("results must hold at least one setting")
    names = list(results)
    for name, (toy, paper) in results.items():
        if not 0.0 <= toy <= 1.0:
            raise ValueError(f"the toy value of {name!r} must be a fraction in [0, 1], got {toy!r}")
        if paper is not None and not 0.0 <= paper <= 100.0:
            raise ValueError(
                f"the paper value of {name!r} must be a percentage in [0, 100] or None, got {paper!r}"
            )
    fig, axes = new_figure(2, 1, (6.0, 0.8 + 0.32 * len(names)), sharex=True)
    colors = [style.window_color(i) for i in range(len(names))]
    hatches = [style.window_hatch(i) for i in range(len(names))]
    y = np.arange(len(names))
    panels = ((axes[0, 0], 0, 100.0, metric), (axes[1, 0], 1, 1.0, "paper: Kinetics-400 top-1"))
    for ax, idx, factor, label in panels:
        values = [results[n][idx] for n in names]
        shown = [0.0 if v is None else v * factor for v in values]
        bars = ax.barh(y, shown, color=colors, edgecolor="black", height=0.65)
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch or None)
        for k, v in enumerate(values):
            text = "n/a" if v is None else f"{shown[k]:.3g} %"
            ax.text(shown[k] + 1.0, k, text, va="center", ha="left")
        ax.set_yticks(y, names)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlim(0, 118)  # room for the value labels right of a full bar
        ax.set_xticks(range(0, 101, 20))
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(wrap(label, fig.get_figwidth() * 0.8, "large"))
    axes[1, 0].set_xlabel("percent (both panels on the same 0-100 scale)")
    if title:
        suptitle(fig, title)
    finish(fig)
    return fig
