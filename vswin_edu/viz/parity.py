"""Layer-by-layer parity with torchvision's ``swin3d_*`` (paper Sec. 3; chapter 9).

* :func:`layer_pairs` — our module names beside torchvision's (``stages.i.blocks.j`` is
  ``features.{2i}.{j}``, ``stages.i.downsample`` is ``features.{2i+1}``), in forward order.
* :func:`compare_layers` — one forward pass of each model with forward hooks on those modules: the
  input and output shape of every layer, the effective window and shift of every block, and
  ``max |ours - torchvision|`` of every layer output (the same clip, the same converted weights).
* :func:`plot_layer_parity` — the max difference of every layer on a log scale, and the difference
  map of one chosen layer over its token grid.

The first layer whose difference jumps is where the two implementations part: on 4x112x112 clips
that is stage 4, whose window shrinks in *space* and where torchvision's ``[:N, :N]`` bias slice
picks the wrong offsets (chapter 9, section 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import nn

from .._checks import check_video
from ..windows import effective_window
from ._draw import new_figure, suptitle

__all__ = ["PARITY_TOL", "LayerParity", "layer_pairs", "compare_layers", "plot_layer_parity"]

# float32 through 12 blocks differs by ~1e-6 between two correct implementations (other summation
# orders); a wrong bias or mask moves outputs by ~1e-3 or more
PARITY_TOL = 1e-4
EXACT_COLOR, DIFFER_COLOR = "#44BB99", "#EE8866"  # Paul Tol light: mint / orange
_FLOOR = 1e-9  # 0 on a log axis: drawn at the floor


@dataclass(frozen=True)
class LayerParity:
    """One layer of both models on the same clip."""

    name: str  # our module, e.g. "stages.0.blocks.1"
    tv_name: str  # torchvision's, e.g. "features.0.1"
    label: str  # short label, e.g. "stage 1 block 2 SW"
    kind: str  # "patch embedding", "W-MSA block", "SW-MSA block", "patch merging", "norm", "head"
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]  # (B, D, H, W, C) inside the model, (B, K) at the head
    window: tuple[int, int, int] | None  # effective window of a block (None for other layers)
    shift: tuple[int, int, int] | None  # effective shift of a block
    max_abs_diff: float  # max |ours - torchvision| over the output
    diff: torch.Tensor  # |ours - torchvision|, out_shape

    @property
    def exact(self) -> bool:
        """Whether the outputs agree to :data:`PARITY_TOL`."""
        return self.max_abs_diff <= PARITY_TOL


def layer_pairs(model: nn.Module) -> list[tuple[str, str, str, str]]:
    """``(our name, torchvision name, label, kind)`` of every layer of a :class:`VideoSwinTransformer`,
    in forward order: patch embedding, the blocks and patch merging of each stage, norm, head."""
    stages = getattr(model, "stages", None)
    if stages is None:
        raise TypeError(f"model must be a vswin_edu VideoSwinTransformer, got {type(model).__name__}")
    pairs = [("patch_embed", "patch_embed", "patch embedding", "patch embedding")]
    for i, stage in enumerate(stages):
        for j, _ in enumerate(stage.blocks):
            kind = "SW-MSA block" if j % 2 else "W-MSA block"
            pairs.append(
                (
                    f"stages.{i}.blocks.{j}",
                    f"features.{2 * i}.{j}",
                    f"stage {i + 1} block {j + 1} {kind[:-6]}",
                    kind,
                )
            )
        if stage.downsample is not None:
            pairs.append(
                (
                    f"stages.{i}.downsample",
                    f"features.{2 * i + 1}",
                    f"merging {i + 1}->{i + 2}",
                    "patch merging",
                )
            )
    pairs += [("norm", "norm", "final norm", "norm"), ("head", "head", "head (logits)", "head")]
    return pairs


def _record_outputs(model: nn.Module, names: Sequence[str], video: torch.Tensor) -> dict[str, tuple]:
    """``name -> (input shape, output)`` of the named submodules in one eval forward pass."""
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(
            f"{type(model).__name__} has no module(s) {missing}: expected a torchvision SwinTransformer3d "
            "with the same depths as our model"
        )
    seen: dict[str, tuple] = {}
    hooks = [
        modules[n].register_forward_hook(
            lambda mod, inp, out, n=n: seen.__setitem__(n, (tuple(inp[0].shape), out.detach()))
        )
        for n in names
    ]
    try:
        with torch.no_grad():
            model.eval()(video)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def compare_layers(ours: nn.Module, tv: nn.Module, video: torch.Tensor) -> list[LayerParity]:
    """Run ``video (B, 3, T, H, W)`` through our model and torchvision's and compare every layer.

    Both models are put in eval mode; give them the same weights first
    (``load_state_dict_strict(ours, from_torchvision(tv))``).  Forward hooks record each layer's
    input shape and output; blocks also get their effective window and shift for their input grid.
    """
    check_video(video, floating=True)
    pairs = layer_pairs(ours)
    mine = _record_outputs(ours, [p[0] for p in pairs], video)
    theirs = _record_outputs(tv, [p[1] for p in pairs], video)
    modules = dict(ours.named_modules())
    records = []
    for name, tv_name, label, kind in pairs:
        (in_shape, out), (_, ref) = mine[name], theirs[tv_name]
        if out.shape != ref.shape:
            raise ValueError(
                f"{name} gives {tuple(out.shape)} but torchvision's {tv_name} gives {tuple(ref.shape)}"
            )
        window = shift = None
        if kind.endswith("block"):
            block = modules[name]
            window, shift = effective_window(in_shape[1:4], block.window_size, block.shift_size)
        diff = (out.float() - ref.float()).abs()  # same shape as out
        records.append(
            LayerParity(name, tv_name, label, kind, in_shape, tuple(out.shape), window, shift,
                        float(diff.max()) if diff.numel() else 0.0, diff)
        )  # fmt: skip
    return records


def _select(records: Sequence[LayerParity], selected: int | str | None) -> int | None:
    if selected is None:
        return None
    if isinstance(selected, str):
        names = [r.name for r in records]
        if selected not in names:
            raise ValueError(f"selected must be one of the layer names {names}, got {selected!r}")
        return names.index(selected)
    if isinstance(selected, bool) or not isinstance(selected, int) or not 0 <= selected < len(records):
        raise ValueError(f"selected must be a layer index in [0, {len(records)}) or a name, got {selected!r}")
    return selected


def _shape(s: Sequence[int]) -> str:
    return "x".join(map(str, s))


def plot_layer_parity(
    records: Sequence[LayerParity], selected: int | str | None = None, title: str = ""
) -> Figure:
    """Max ``|ours - torchvision|`` per layer (log scale), and the chosen layer's difference map.

    Args:
        records: :func:`compare_layers`' result.
        selected: a layer (index or our module name) to outline and map on the right: its
            ``|Δ|`` maximised over batch, frames and channels on the ``H x W`` token grid (or per
            class, for the head).  ``None``: the bars only.
        title: figure title (default: how many layers agree to :data:`PARITY_TOL` and the first
            that does not).

    Returns:
        A figure with one or two axes (plus a colour bar for a map).
    """
    if not records or not all(isinstance(r, LayerParity) for r in records):
        raise TypeError("records must be a non-empty list of LayerParity (compare_layers)")
    k = _select(records, selected)
    n = len(records)
    fig, axes = new_figure(
        1,
        1 if k is None else 2,
        (5.4, max(3.2, 0.24 * n + 1.6)),
        **({} if k is None else {"width_ratios": [1.25, 1]}),
    )
    fig.set_layout_engine("constrained")  # before the colour bar, which then takes its own slot
    ax = axes[0, 0]
    values = [max(r.max_abs_diff, _FLOOR) for r in records]
    colors = [EXACT_COLOR if r.exact else DIFFER_COLOR for r in records]
    bars = ax.barh(range(n), values, color=colors, edgecolor="black", linewidth=0.6)
    for bar, r in zip(bars, records, strict=True):
        if not r.exact:
            bar.set_hatch("//")
    if k is not None:
        bars[k].set_linewidth(2.5)
    ax.set_xscale("log")
    ax.set_xlim(_FLOOR, max(1.0, 1e3 * max(values)))  # room for the value labels
    for i, r in enumerate(records):
        text = "0" if r.max_abs_diff == 0 else f"{r.max_abs_diff:.1e}"
        ax.text(values[i] * 1.6, i, text, va="center", ha="left", fontsize="small")
    ax.axvline(PARITY_TOL, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(range(n))
    ax.set_yticklabels([r.label for r in records])
    if k is not None:
        ax.get_yticklabels()[k].set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlabel("max |ours - torchvision| of the layer output")
    ax.legend(
        handles=[
            Patch(facecolor=EXACT_COLOR, edgecolor="black", label=f"agree (<= {PARITY_TOL:g})"),
            Patch(facecolor=DIFFER_COLOR, edgecolor="black", hatch="//", label="differ"),
        ],
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),  # above the bars: never over a value label
        ncol=2,
        fontsize="small",
        frameon=False,
    )
    if k is not None:
        _draw_difference(fig, axes[0, 1], records[k])
    agree = sum(r.exact for r in records)
    first = next((r for r in records if not r.exact), None)
    default = f"{agree} of {n} layers agree with torchvision" + (
        f"; first difference: {first.label}" if first else ""
    )
    suptitle(fig, title or default)
    return fig


def _draw_difference(fig: Figure, ax, record: LayerParity) -> None:
    """|Δ| of one layer: an ``H x W`` map over the token grid, or bars per class at the head."""
    diff = record.diff
    head = f"{record.label}\n{_shape(record.in_shape)} -> {_shape(record.out_shape)}"
    if record.window is not None:
        head += f"\nwindow {_shape(record.window)}, shift {_shape(record.shift)}"
    if diff.dim() == 5:  # (B, D, H, W, C)
        grid = diff.amax(dim=(0, 1, 4)).numpy()  # (H, W) max over batch, frames, channels
        # linear scale up to at least the tolerance: a layer that agrees stays dark everywhere
        image = ax.imshow(grid, cmap="magma", interpolation="nearest", aspect="auto",
                          vmin=0.0, vmax=max(PARITY_TOL, float(grid.max())))  # fmt: skip
        H, W = grid.shape
        ax.set_xticks(range(0, W, max(1, -(-W // 8))))
        ax.set_yticks(range(0, H, max(1, -(-H // 8))))
        ax.set_xlabel("w (token)")
        ax.set_ylabel("h (token)")
        fig.colorbar(image, ax=ax, label="max |Δ| over t and C")
    else:  # (B, K) logits
        values = diff.reshape(diff.shape[0], -1).amax(dim=0).numpy()  # (K,)
        ax.bar(
            range(len(values)),
            np.maximum(values, _FLOOR),
            color=DIFFER_COLOR if not record.exact else EXACT_COLOR,
        )
        ax.set_yscale("log")
        ax.set_ylim(_FLOOR, max(1.0, 10 * float(values.max())))
        ax.set_xlabel("class")
        ax.set_ylabel("|Δ| of the logit")
    ax.set_title(head, fontsize="medium")
