"""The overall architecture and two successive blocks (paper Fig. 1 and Fig. 3; chapters 1 and 7).

* :func:`plot_architecture` — video -> 3D patch partition -> stage 1 (linear embedding + blocks)
  -> stages 2-4 (patch merging + blocks) -> LayerNorm, average pool, linear head; every stage box is
  labelled with the *live* shapes, heads, effective window and shift of the chosen configuration and
  clip (rows of :func:`vswin_edu.complexity.stage_table`), and below it the pair of blocks that
  every stage repeats: ``LN -> 3D W-MSA -> + -> LN -> MLP -> +`` then the same with 3D SW-MSA
  (Sec. 3.2, Eq. 3).

The drawing is laid out in inches (one data unit is one inch at scale 1), so boxes are sized for
their text and nothing overlaps, in lecture mode too (everything scales with
:func:`vswin_edu.style.figure_scale`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch, Patch

from .. import style
from .._checks import triple
from ..complexity import StageInfo, model_macs, model_params, stage_table
from ..config import PRESETS, VideoSwinConfig
from ._draw import new_figure

__all__ = ["ARCHITECTURE_KINDS", "plot_architecture"]

# What each box colour means (the figure's legend); colour-blind-safe (Paul Tol light/muted), and
# the shifted-window attention is hatched too, so colour is never the only cue.
ARCHITECTURE_KINDS: dict[str, tuple[str, str]] = {
    "data": ("#DDDDDD", "video / tokens"),
    "embed": ("#EEDD88", "linear embedding / patch merging"),
    "blocks": ("#99DDFF", "Video Swin blocks (W-MSA / SW-MSA pairs, below)"),
    "wmsa": ("#77AADD", "3D W-MSA (regular windows)"),
    "swmsa": ("#EE8866", "3D SW-MSA (shifted windows + mask)"),
    "mlp": ("#44BB99", "MLP (4C hidden, GELU)"),
    "norm": ("#FFFFFF", "LayerNorm"),
    "head": ("#FFAABB", "LayerNorm, pool, head"),
}
_HATCH = {"swmsa": "//"}

Size3 = tuple[int, int, int]


@dataclass(frozen=True)
class _Layout:
    """Sizes in inches at scale 1 (multiplied by the figure scale when drawn)."""

    box_w: float = 1.02  # one box of the pipeline
    box_h: float = 1.05
    gap: float = 0.3  # arrow between two boxes
    margin: float = 0.2
    text: float = 9.5  # pt
    small: float = 8.5  # pt


_L = _Layout()


def _resolve(config) -> tuple[str, VideoSwinConfig]:
    """(name, config) of a preset name, a :class:`VideoSwinConfig` or a model with ``.config``."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(
                f"config must be a preset name {sorted(PRESETS)} or a VideoSwinConfig, got {config!r}"
            )
        return f"Swin-{config.upper()}" if config != "micro" else "micro", PRESETS[config]
    if isinstance(config, VideoSwinConfig):
        named = {cfg: name for name, cfg in PRESETS.items()}
        name = named.get(config)
        return (f"Swin-{name.upper()}" if name and name != "micro" else name or "custom"), config
    if isinstance(getattr(config, "config", None), VideoSwinConfig):
        return _resolve(config.config)
    raise TypeError(
        f"config must be a preset name, a VideoSwinConfig or a model, got {type(config).__name__}"
    )


def _x(size: Sequence[int]) -> str:
    return "×".join(str(int(v)) for v in size)


class _Canvas:
    """Boxes, circles and arrows on an axes whose data unit is one inch times ``scale``."""

    def __init__(self, ax: Axes, width: float, height: float, scale: float) -> None:
        self.ax, self.scale = ax, scale
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.axis("off")

    def pt(self, size: float) -> float:
        return size * self.scale

    def box(
        self, x: float, y: float, w: float, h: float, text: str, kind: str, size: float = _L.text
    ) -> None:
        """A rounded box of ``kind`` (lower-left ``(x, y)``) with centred text."""
        color = ARCHITECTURE_KINDS[kind][0]
        self.ax.add_patch(
            FancyBboxPatch(
                (x, y), w, h, boxstyle="round,pad=0,rounding_size=0.06", facecolor=color,
                edgecolor="black", linewidth=1.2 * self.scale, hatch=_HATCH.get(kind),
            )
        )  # fmt: skip
        self.ax.text(
            x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=self.pt(size),
            color=style.text_color(color), linespacing=1.25,
            bbox=dict(facecolor=color, edgecolor="none", pad=1.0) if kind in _HATCH else None,
        )  # fmt: skip

    def frame(self, x: float, y: float, w: float, h: float) -> None:
        """A dashed outline (a stage)."""
        self.ax.add_patch(
            FancyBboxPatch(
                (x, y), w, h, boxstyle="round,pad=0,rounding_size=0.1", fill=False,
                edgecolor="#555555", linestyle="--", linewidth=1.2 * self.scale,
            )
        )  # fmt: skip

    def plus(self, x: float, y: float, r: float) -> None:
        """The residual addition, a circled plus centred at ``(x, y)``."""
        self.ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor="black", linewidth=1.2 * self.scale))
        self.ax.text(x, y, "+", ha="center", va="center", fontsize=self.pt(_L.text + 2))

    def arrow(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops=dict(arrowstyle="-|>", color="black", linewidth=1.2 * self.scale, shrinkA=0, shrinkB=0,
                            mutation_scale=10 * self.scale),
        )  # fmt: skip

    def label(self, x: float, y: float, text: str, size: float = _L.small, **kw) -> None:
        kw = {"ha": "center", "va": "center", **kw}
        self.ax.text(x, y, text, fontsize=self.pt(size), linespacing=1.2, **kw)


def _stage_texts(row: StageInfo, cfg: VideoSwinConfig, index: int) -> tuple[str, str, str]:
    """(first box, block box, output shape) of stage ``index`` (0-based)."""
    if index == 0:
        pt, ph, pw = cfg.patch_size
        first = f"linear\nembedding\n{cfg.in_chans * pt * ph * pw} → {row.channels}"
    else:
        first = f"patch\nmerging\n{4 * row.channels // 2} → {row.channels}"
    block = f"Video Swin\nblock ×{row.depth}\n{row.heads} heads\nwin {_x(row.window)}\nshift {_x(row.shift)}"
    D, H, W = row.grid
    return first, block, f"{D}×{H}×{W} × {row.channels}"


def _symbolic(cfg: VideoSwinConfig, index: int) -> str:
    pt, ph, pw = cfg.patch_size
    k = 2**index
    return f"T/{pt}×H/{ph * k}×W/{pw * k} × {k if k > 1 else ''}C"


def _pipeline_width(num_stages: int) -> float:
    boxes = 3 + 2 * num_stages  # video, partition, two per stage, head
    return 2 * _L.margin + boxes * _L.box_w + (boxes - 1) * _L.gap


def _draw_pipeline(
    canvas: _Canvas, rows: list[StageInfo], cfg: VideoSwinConfig, thw: Size3, y: float, x: float
) -> None:
    """The top row from ``x`` on: video, partition, the stages, head; shapes under the boxes."""
    bw, bh, gap = _L.box_w, _L.box_h, _L.gap
    x += _L.margin
    T, H, W = thw
    pt, ph, pw = cfg.patch_size
    grid = rows[0].grid
    raw = cfg.in_chans * pt * ph * pw
    shape_y = y - 0.34

    def shapes(centre: float, concrete: str, symbolic: str) -> None:
        canvas.label(centre, shape_y, concrete, size=_L.text, va="top", weight="bold")
        below = shape_y - 0.2 * (concrete.count("\n") + 1) - 0.05
        canvas.label(centre, below, symbolic, va="top", color="#444444")

    def step(text: str, kind: str, size: float = _L.text) -> float:
        nonlocal x
        canvas.box(x, y, bw, bh, text, kind, size)
        left = x
        x += bw + gap
        return left

    left = step("video\nclip", "data")
    shapes(left + bw / 2, f"{cfg.in_chans}×{T}\n×{H}×{W}", f"{cfg.in_chans}×T×H×W")
    canvas.arrow(x - gap, y + bh / 2, x, y + bh / 2)
    left = step(f"3D patch\npartition\n{_x(cfg.patch_size)}", "data")
    shapes(left + bw / 2, f"{_x(grid)}\n× {raw}", f"T/{pt}×H/{ph}×W/{pw} × {raw}")
    for i, row in enumerate(rows):
        canvas.arrow(x - gap, y + bh / 2, x, y + bh / 2)
        first, block, shape = _stage_texts(row, cfg, i)
        start = step(first, "embed")
        canvas.arrow(x - gap, y + bh / 2, x, y + bh / 2)
        step(block, "blocks", size=_L.small)
        pad = 0.09
        canvas.frame(start - pad, y - pad, 2 * bw + gap + 2 * pad, bh + 2 * pad)
        canvas.label(start + bw + gap / 2, y + bh + 0.25, f"stage {i + 1}", size=_L.text, weight="bold")
        shapes(start + bw + gap / 2, shape, _symbolic(cfg, i))
    canvas.arrow(x - gap, y + bh / 2, x, y + bh / 2)
    left = step(f"LayerNorm\navg pool\nlinear\n→ {cfg.num_classes}", "head")
    shapes(left + bw / 2, f"{cfg.num_classes} logits", "K classes")


_PAIR_BOX_W, _PAIR_GAP, _PLUS_R = 0.78, 0.2, 0.15
_PAIR_WIDTHS = {"z": 0.55, "plus": 2 * _PLUS_R}


def _pair_items() -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = [("z", "ℓ-1")]
    for attn in ("wmsa", "swmsa"):
        items += [("norm", "LN"), (attn, "W-MSA" if attn == "wmsa" else "SW-MSA"), ("plus", "")]
        items += [("norm", "LN"), ("mlp", "MLP"), ("plus", "")]
        items.append(("z", "ℓ" if attn == "wmsa" else "ℓ+1"))
    return items


def _pair_width() -> float:
    items = _pair_items()
    return sum(_PAIR_WIDTHS.get(k, _PAIR_BOX_W) for k, _ in items) + _PAIR_GAP * (len(items) - 1)


def _draw_block_pair(canvas: _Canvas, row: StageInfo, y: float, width: float) -> None:
    """The bottom row: two successive blocks (Fig. 3) with their residual connections."""
    bw, bh, r, gap, widths = _PAIR_BOX_W, 0.5, _PLUS_R, _PAIR_GAP, _PAIR_WIDTHS
    items = _pair_items()
    x = (width - _pair_width()) / 2
    mid = y + bh / 2
    centres: list[float] = []
    for n, (kind, text) in enumerate(items):
        w = widths.get(kind, bw)
        if n:
            canvas.arrow(x - gap, mid, x, mid)
        if kind == "z":
            canvas.label(x + w / 2, mid, f"$z^{{{text}}}$", size=_L.text + 2)
        elif kind == "plus":
            canvas.plus(x + r, mid, r)
        else:
            canvas.box(x, y, w, bh, text, kind)
        centres.append(x + w / 2)
        x += w + gap
    # residual connections: from the input of each LN (the token after the previous z / +) to its +
    top = y + bh + 0.22
    for n, (kind, _) in enumerate(items):
        if kind == "norm":
            x0 = centres[n] - bw / 2 - gap / 2
            x1 = centres[n + 2]
            canvas.ax.plot([x0, x0, x1], [mid, top, top], color="black", linewidth=1.2 * canvas.scale)
            canvas.arrow(x1, top, x1, mid + r)
    window, shift = _x(row.window), _x(row.shift)
    notes = {"W-MSA": f"window {window}\nshift 0×0×0", "SW-MSA": f"window {window}\nshift {shift}",
             "MLP": "4C hidden\nGELU"}  # fmt: skip
    for n, (_, text) in enumerate(items):
        if text in notes:
            canvas.label(centres[n], y - 0.1, notes[text], va="top")
    half = [centres[0], centres[7], centres[-1]]
    canvas.label(
        (half[0] + half[1]) / 2, y - 0.72, "block 2k: regular windows", size=_L.text, va="top", weight="bold"
    )
    canvas.label(
        (half[1] + half[2]) / 2,
        y - 0.72,
        "block 2k+1: shifted windows",
        size=_L.text,
        va="top",
        weight="bold",
    )


def plot_architecture(
    config: str | VideoSwinConfig = "t", video_thw: Sequence[int] = (32, 224, 224)
) -> Figure:
    """The Video Swin Transformer at a glance (paper Fig. 1 and Fig. 3) with live shapes.

    Args:
        config: a preset name (``"t"``, ``"s"``, ``"b"``, ``"l"``, ``"micro"``), a
            :class:`vswin_edu.config.VideoSwinConfig` or a model (its ``.config``).
        video_thw: frames, height and width of the clip; every stage box shows the token grid, channels,
            heads and the *effective* window and shift the stage runs with for this clip (e.g. Swin-T at
            32×224²: stage 4 is 16×7×7 tokens, window 8×7×7, shift 4×0×0).

    Returns:
        A figure with two axes: the pipeline (top) and two successive blocks of stage 1 (bottom),
        a legend of the box colours, and the parameter and MAC counts in the title.
    """
    name, cfg = _resolve(config)
    thw = triple(video_thw, "video_thw")
    rows = stage_table(cfg, thw)
    scale = style.figure_scale()
    width = max(_pipeline_width(len(rows)), _pair_width() + 2 * _L.margin)
    top_h, bottom_h = 2.75, 2.1  # inches of the two rows; 0.5 below for the legend, 0.4 above for the title
    H_total = top_h + bottom_h + 0.9
    fig, axes = new_figure(2, 1, (width, H_total / 2))
    fig.set_size_inches(width * scale, H_total * scale)  # new_figure's minimum size does not apply
    # axes placed by hand in inches (no layout engine): the drawing is sized for its text
    axes[0, 0].set_position((0, (bottom_h + 0.5) / H_total, 1, top_h / H_total))
    axes[1, 0].set_position((0, 0.5 / H_total, 1, bottom_h / H_total))
    top = _Canvas(axes[0, 0], width, top_h, scale)
    _draw_pipeline(top, rows, cfg, thw, y=1.05, x=(width - _pipeline_width(len(rows))) / 2)
    bottom = _Canvas(axes[1, 0], width, bottom_h, scale)
    _draw_block_pair(bottom, rows[0], y=1.0, width=width)
    caption = (
        "two successive Video Swin blocks (every stage repeats this pair; "
        f"stage 1 of this clip: {_x(rows[0].grid)} tokens)"
    )
    bottom.label(width / 2, bottom_h - 0.12, caption, size=_L.text, va="top")
    handles = [
        Patch(facecolor=color, edgecolor="black", hatch=_HATCH.get(kind), label=label)
        for kind, (color, label) in ARCHITECTURE_KINDS.items()
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=_L.small * scale, frameon=False,
               bbox_to_anchor=(0.5, 0.0))  # fmt: skip
    T, H, W = thw
    macs = model_macs(cfg, thw)
    cost = f"{macs / 1e9:.1f} GMACs" if macs >= 1e9 else f"{macs / 1e6:.0f} MMACs"
    fig.suptitle(
        f"{name}: {model_params(cfg) / 1e6:.1f}M parameters, {cost} on a {T}×{H}×{W} clip",
        fontsize=(_L.text + 2.5) * scale,
        y=1 - 0.12 / H_total,
        va="top",
    )
    return fig
