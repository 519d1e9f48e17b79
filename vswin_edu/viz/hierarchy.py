"""Patch merging and the four-stage hierarchy (paper Sec. 3.1, Fig. 1, Table 1/7; chapter 8).

* :func:`plot_merging` — which of ``x0, x1, x2, x3`` every token of a 2x2 group becomes, the merged
  ``4C`` vector, and the same weights seen as a ``1x2x2`` convolution kernel.
* :func:`plot_hierarchy` — the token grid of every stage drawn to scale, with parameters and MACs
  per stage (rows of :func:`vswin_edu.complexity.stage_table`).
* :func:`plot_temporal_timeline` — 32 frames at stride 2 -> 2-frame tubes -> 16 temporal tokens ->
  windows of ``P`` tokens and the shifted windows (time is never merged, so this holds in every stage).
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import style
from ._draw import draw_cells, finish, label_board, new_figure, suptitle, wrap

__all__ = ["MERGE_NAMES", "plot_merging", "plot_hierarchy", "plot_temporal_timeline"]

# x_k holds the neighbour (dh, dw) of each 2x2 group, in the order torchvision/official concatenate.
MERGE_NAMES: dict[tuple[int, int], str] = {(0, 0): "x0", (1, 0): "x1", (0, 1): "x2", (1, 1): "x3"}
_MERGE_KEYS = list(MERGE_NAMES)


def _positive_even(value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 2 or value % 2:
        raise ValueError(f"{name} must be an even int >= 2, got {value!r}")
    return value


def plot_merging(H: int = 4, W: int = 4) -> Figure:
    """Patch merging on one ``H x W`` frame of tokens.

    Left: every token labelled with the block it lands in (``x0`` even row/even column, ``x1`` odd
    row, ``x2`` odd column, ``x3`` both odd; colour *and* label). Middle: the merged token of the
    first group, ``[x0 | x1 | x2 | x3]`` of ``4C`` channels, then ``LayerNorm(4C)`` and
    ``Linear(4C -> 2C)``. Right: the linear layer's column blocks placed on a ``2x2`` kernel — the
    stride-``(1, 2, 2)`` convolution that computes the same projection (without the LayerNorm).
    """
    H, W = _positive_even(H, "H"), _positive_even(W, "W")
    fig, axes = new_figure(1, 3, (3.4, 3.2))
    ax = axes[0, 0]
    colors = [[style.window_color(_MERGE_KEYS.index((h % 2, w % 2))) for w in range(W)] for h in range(H)]
    labels = [[MERGE_NAMES[(h % 2, w % 2)] for w in range(W)] for h in range(H)]
    draw_cells(ax, colors, labels=labels)
    lw = 2.5 * style.figure_scale()
    for h in range(0, H, 2):
        for w in range(0, W, 2):
            ax.add_patch(Rectangle((w - 0.5, h - 0.5), 2, 2, fill=False, edgecolor="black", linewidth=lw))
    label_board(ax, H, W, f"{H}x{W} tokens, C channels each\n-> {H // 2}x{W // 2} merged tokens")

    ax = axes[0, 1]
    for k, key in enumerate(_MERGE_KEYS):
        ax.add_patch(
            Rectangle((k, 0), 1, 1, facecolor=style.window_color(k), edgecolor="black", linewidth=lw)
        )
        ax.text(k + 0.5, 0.5, f"{MERGE_NAMES[key]}\n+({key[0]},{key[1]})", ha="center", va="center")
    ax.annotate("", xy=(2, -1.2), xytext=(2, -0.1), arrowprops={"arrowstyle": "->", "lw": lw})
    ax.text(2, -1.5, "LayerNorm(4C) -> Linear(4C, 2C)\nno bias", ha="center", va="top")
    ax.set_xlim(-0.2, 4.2)
    ax.set_ylim(-2.6, 1.6)
    ax.set_title("one merged token: 4C channels")
    ax.axis("off")

    ax = axes[0, 2]
    kernel = [[style.window_color(_MERGE_KEYS.index((dh, dw))) for dw in range(2)] for dh in range(2)]
    klabels = [[f"W[:, {MERGE_NAMES[(dh, dw)]}]" for dw in range(2)] for dh in range(2)]
    draw_cells(ax, kernel, labels=klabels)
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])
    ax.set_xlabel("kernel dw")
    ax.set_ylabel("kernel dh")
    ax.set_title("Conv3d kernel 1x2x2, stride (1,2,2)\nblock k of Linear's columns")
    suptitle(fig, "Patch merging: 2x2 neighbours in space (never in time) -> one token of 2C channels")
    finish(fig)
    return fig


def _check_rows(rows: Sequence) -> None:
    if not rows:
        raise ValueError("rows must hold at least one stage (rows of complexity.stage_table), got none")
    needed = ("stage", "grid", "channels", "window", "shift", "num_windows", "params", "macs")
    missing = [name for name in needed if not hasattr(rows[0], name)]
    if missing:
        raise TypeError(
            f"rows must be StageInfo rows of vswin_edu.complexity.stage_table; missing fields {missing}"
        )


def plot_hierarchy(rows: Sequence, title: str = "") -> Figure:
    """The token grid of each stage to scale, and parameters / GMACs per stage.

    Args:
        rows: :class:`vswin_edu.complexity.StageInfo` rows, one per stage.
        title: figure title (e.g. the variant and clip size).

    Returns:
        A figure with three axes: grids (one rectangle per stage, side = H x W tokens, labelled
        ``D x H x W x C``, the effective window drawn in the corner), parameters (M) and GMACs.
    """
    _check_rows(rows)
    fig, axes = new_figure(1, 3, (4.2, 3.6))
    ax = axes[0, 0]
    top = max(max(r.grid[1], r.grid[2]) for r in rows)
    slot = top * 1.15  # one slot per stage, wide enough for its label even when its grid is tiny
    for k, r in enumerate(rows):
        D, H, W = r.grid
        x = k * slot + (slot - W) / 2
        ax.add_patch(Rectangle((x, 0), W, H, facecolor=style.window_color(r.stage - 1), edgecolor="black"))
        wd, wh, ww = r.window
        ax.add_patch(Rectangle((x, 0), ww, wh, fill=False, edgecolor="black", hatch="//", linewidth=1.5))
        ax.text(
            k * slot + slot / 2,
            -top * 0.06,
            f"S{r.stage}\n{D}x{H}x{W}\nC={r.channels}",
            ha="center",
            va="top",
        )
    ax.set_xlim(0, len(rows) * slot)
    ax.set_ylim(-top * 0.5, top * 1.05)
    ax.set_aspect("equal")
    ax.set_title(
        wrap("token grid per stage, to scale (hatched: one window)", 4.2 * style.figure_scale(), "large")
    )
    ax.axis("off")

    names = [f"S{r.stage}" for r in rows]
    for ax, values, label in (
        (axes[0, 1], [r.params / 1e6 for r in rows], "parameters (M)"),
        (axes[0, 2], [r.macs / 1e9 for r in rows], "GMACs per clip"),
    ):
        colors = [style.window_color(r.stage - 1) for r in rows]
        bars = ax.bar(names, values, color=colors, edgecolor="black")
        for bar, v in zip(bars, values, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.3g}", ha="center", va="bottom")
        ax.set_ylabel(label)
        ax.set_title(f"{label}, sum over stages {sum(values):.4g}")
        ax.margins(y=0.15)
    if title:
        suptitle(fig, title)
    finish(fig)
    return fig


def plot_temporal_timeline(
    clip_len: int = 32, stride: int = 2, patch_t: int = 2, window_p: int = 8, span: int | None = None
) -> Figure:
    """Frames, temporal tokens and temporal windows of one clip, on one time axis.

    Rows, top to bottom: the raw video frames (``span``, default the clip's span) with the sampled
    ones filled; the ``clip_len`` sampled frames grouped into tubes of ``patch_t`` (one temporal
    token each); the tokens' regular windows of ``window_p``; the shifted windows (by ``P/2``,
    the last one wrapping round as the cyclic shift does).  Paper: 32 frames, stride 2 -> 16 tokens
    -> 2 windows of 8 tokens, shift 4.
    """
    for name, v in (("clip_len", clip_len), ("stride", stride), ("patch_t", patch_t), ("window_p", window_p)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    covered = (clip_len - 1) * stride + 1
    span = covered if span is None else span
    if span < covered:
        raise ValueError(f"span must be >= the clip's span (clip_len-1)*stride+1 = {covered}, got {span}")
    D = -(-clip_len // patch_t)
    P = min(window_p, D)  # a window longer than the clip shrinks to it
    shift = P // 2 if D > P else 0
    fig, axes = new_figure(1, 1, (max(8.0, span * 0.16), 3.4))
    ax = axes[0, 0]
    sampled = {k * stride for k in range(clip_len)}
    for f in range(span):
        ax.add_patch(
            Rectangle((f, 3), 0.9, 0.8, facecolor="#444444" if f in sampled else "white", edgecolor="grey")
        )
    unit = stride * patch_t  # raw frames per temporal token
    for d in range(D):
        ax.add_patch(Rectangle((d * unit, 2), unit - 0.1, 0.8, facecolor="#DDDDDD", edgecolor="black"))
        ax.text(d * unit + unit / 2, 2.4, str(d), ha="center", va="center")
    num_win = -(-D // P)
    for row, offset in ((1, 0), (0, shift)):
        for k in range(num_win):
            start = k * P + offset  # after the cyclic shift, window k holds tokens [kP+s, kP+s+P) mod D
            pieces = [(start, min(start + P, D))]
            if start + P > D:
                pieces.append((0, start + P - D))  # the piece that wrapped round from the start
            for lo, hi in pieces:
                ax.add_patch(
                    Rectangle(
                        (lo * unit, row),
                        (hi - lo) * unit - 0.1,
                        0.8,
                        facecolor=style.window_color(k),
                        hatch=style.window_hatch(k) or ("//" if lo < start else ""),
                        edgecolor="black",
                    )
                )
                ax.text((lo + hi) / 2 * unit, row + 0.4, f"window {k}", ha="center", va="center")
    ax.set_yticks([3.4, 2.4, 1.4, 0.4])
    ax.set_yticklabels(
        [
            f"video frames\n(stride {stride}: filled = sampled)",
            f"{D} temporal tokens\n({patch_t} frames each)",
            f"windows of P={P}",
            f"shifted by {shift}\n(wraps round)",
        ]
    )
    ax.set_xlim(-0.5, span + 0.5)
    ax.set_ylim(-0.2, 4.0)
    ax.set_xlabel("raw frame index")
    ax.set_title(
        wrap(
            f"{clip_len} frames at stride {stride} -> {D} temporal tokens -> "
            f"{num_win} window(s) of {P}, shift {shift} (time is never merged)",
            fig.get_figwidth(),
            "large",
        )
    )
    finish(fig)
    return fig
