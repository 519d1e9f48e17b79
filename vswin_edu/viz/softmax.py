"""A masked softmax, key by key (chapter 5's masked-softmax lab: why -100 and not -inf).

The shifted-window mask adds a large negative number to the logits of forbidden keys.  Whether
that number really removes them depends on the scale of the logits, on the mask value (-100,
-1e4 or -inf) and on the dtype: -100 leaks once logits reach ~100, -inf turns a fully masked row
into NaN, fp16 overflows above 65504.
"""

from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure

from .. import style
from ._draw import figure_legend, finish, legend_patch, new_figure, suptitle

__all__ = ["plot_masked_softmax"]


def plot_masked_softmax(
    logits: torch.Tensor,
    allowed: torch.Tensor,
    weights: torch.Tensor,
    exact: torch.Tensor | None = None,
    title: str | None = None,
) -> Figure:
    """Logits and softmax weights of one query over its keys; masked keys hatched.

    Args:
        logits: ``(N,)`` raw logits ``QK^T/sqrt(d)`` (before the mask).
        allowed: ``(N,)`` bool, True where the key may be attended to.
        weights: ``(N,)`` the softmax actually computed (may hold NaN; shown as a red "NaN").
        exact: ``(N,)`` the ideal weights (softmax over the allowed keys only), drawn as markers.
        title: figure title.

    Returns:
        A figure with two axes (logits, weights).
    """
    for name, t in (("logits", logits), ("allowed", allowed), ("weights", weights)):
        if not isinstance(t, torch.Tensor) or t.dim() != 1:
            raise ValueError(f"{name} must be a 1-D tensor (N,), got {getattr(t, 'shape', type(t).__name__)}")
    N = logits.numel()
    if allowed.numel() != N or weights.numel() != N:
        raise ValueError(f"logits, allowed and weights must all have N={N} entries")
    keys = list(range(N))
    colors = [style.ALLOWED_COLOR if a else style.MASKED_COLOR for a in allowed.tolist()]
    hatches = ["" if a else "xx" for a in allowed.tolist()]
    fig, axes = new_figure(1, 2, (4.2, 3.2))
    ax_l, ax_w = axes[0]
    shown = logits.detach().double().clamp(-1e30, 1e30).tolist()
    for ax, values in ((ax_l, shown), (ax_w, weights.detach().double().nan_to_num(0.0).tolist())):
        bars = ax.bar(keys, values, color=colors, edgecolor="black")
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch)
            bar.set_hatchcolor("#777777")  # visible on the dark masked bars
        ax.set_xlabel("key j (hatched = masked)")
        ax.set_xticks(keys)
    ax_l.set_ylabel("logit")
    ax_l.set_title("logits before the mask")
    ax_w.set_ylabel("weight")
    ax_w.set_ylim(0, 1.05)
    ax_w.set_title("softmax weights")
    for j, w in enumerate(weights.tolist()):
        if math.isnan(w):
            ax_w.text(
                j, 0.5, "NaN", rotation=90, ha="center", va="center", color="#CC3311", fontweight="bold"
            )
    handles = [
        legend_patch("allowed key", style.ALLOWED_COLOR),
        legend_patch("masked key", style.MASKED_COLOR, "xx"),
    ]
    if exact is not None:
        (marker,) = ax_w.plot(keys, exact.detach().double().tolist(), "o", color="#CC3311", label="exact")
        handles.append(marker)
    suptitle(fig, title or "masked softmax")
    figure_legend(fig, handles)
    finish(fig)
    return fig
