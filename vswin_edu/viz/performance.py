"""Why fused attention is faster: measured time against the memory traffic of the logits (appendix 14).

The explicit path writes the ``N x N`` logits of every window and head to memory and reads them back
several times (bias, mask, softmax, ``@ V``); a fused kernel keeps each block of them in the cache.
Both do the same arithmetic, so the gap between them follows the bytes, not the FLOPs.  The
measurements come from :func:`vswin_edu.bench.time_attention_core` and :func:`vswin_edu.bench.run`;
these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import style
from ._draw import new_figure, suptitle

__all__ = ["plot_attention_core", "plot_benchmark", "EXPLICIT_STYLE", "FUSED_STYLE"]

# Colour, line style and marker all differ (colour-blind safe, Tol muted), as in chapter 2's plots.
EXPLICIT_STYLE = {"color": style.REGION_COLORS[1], "linestyle": "--", "marker": "o", "label": "explicit"}
FUSED_STYLE = {"color": style.REGION_COLORS[4], "linestyle": "-", "marker": "s", "label": "fused (SDPA)"}
_KEYS = ("N", "explicit_s", "fused_s", "explicit_bytes", "fused_bytes")


def plot_attention_core(rows: Sequence[Mapping]) -> Figure:
    """Measured seconds and modelled bytes of the attention core, explicit vs fused, against ``N``.

    Args:
        rows: one mapping per window size with the keys ``N``, ``explicit_s``, ``fused_s``,
            ``explicit_bytes``, ``fused_bytes`` (what :func:`vswin_edu.bench.time_attention_core` returns).

    Returns:
        A figure with two axes: time per call, and bytes through memory, both against tokens per window.
    """
    if len(rows) < 2 or any(key not in row for row in rows for key in _KEYS):
        raise ValueError(f"rows must be >= 2 mappings with the keys {_KEYS}, got {list(rows)!r:.200}")
    N = np.array([row["N"] for row in rows], dtype=float)
    fig, axes = new_figure(1, 2, (5.2, 4.2))
    timing, traffic = axes[0]
    scale = style.figure_scale()
    for ax, suffix, factor in ((timing, "s", 1.0), (traffic, "bytes", 2**20)):  # seconds; MiB
        for spec, path in ((EXPLICIT_STYLE, "explicit"), (FUSED_STYLE, "fused")):
            values = np.array([row[f"{path}_{suffix}"] for row in rows], dtype=float)
            ax.plot(N, values / factor, markersize=5 * scale, **spec)
        ax.set_xlabel("tokens per window N")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
        ax.set_ylim(bottom=0)
    ratio = rows[-1]["explicit_s"] / rows[-1]["fused_s"]
    timing.set_ylabel("seconds per call (median)")
    timing.set_title(f"measured: fused is {ratio:.1f}x faster at N={rows[-1]['N']}")
    traffic.set_ylabel("MiB through memory (model)")
    traffic.set_title("the explicit path re-reads the N×N logits")
    suptitle(fig, "Same FLOPs, different memory traffic: attention over the same tokens in windows of N")
    fig.tight_layout()
    return fig


def plot_benchmark(results: Sequence[Mapping]) -> Figure:
    """Median step time of ours vs torchvision, one pair of bars per run, the speed-up under each.

    Args:
        results: dicts as printed by ``python -m vswin_edu.bench --json`` (or ``dataclasses.asdict``
            of :func:`vswin_edu.bench.run`), each with ``ours``, ``torchvision``, ``speedup``, ``config``.

    Returns:
        A figure with one axes of bars and their min-max whiskers.
    """
    if not results or any(not {"ours", "torchvision", "speedup", "config"} <= set(r) for r in results):
        raise ValueError("results must be non-empty bench dicts with ours, torchvision, speedup, config")
    fig, axes = new_figure(1, 1, (max(4.0, 1.6 * len(results) + 1.5), 4.0))
    ax = axes[0, 0]
    x = np.arange(len(results))
    width = 0.38
    for offset, name, spec, hatch in (
        (-0.5, "ours", FUSED_STYLE, ""),
        (0.5, "torchvision", EXPLICIT_STYLE, "//"),
    ):
        med = np.array([r[name]["median_s"] for r in results])
        low = med - np.array([r[name]["min_s"] for r in results])
        high = np.array([r[name]["max_s"] for r in results]) - med
        ax.bar(x + offset * width, med, width, yerr=(low, high), capsize=4, color=spec["color"],
               hatch=hatch, edgecolor="black", label=name)  # fmt: skip
    labels = [
        f"{r['config']['variant']} {r['config']['mode']} {r['config']['frames']}×{r['config']['size']}²\n"
        f"ours {r['speedup']:.2f}x faster"
        for r in results
    ]
    ax.set_xticks(x, labels)
    ax.set_ylabel("seconds per step (median, min-max)")
    ax.legend(loc="upper left", ncol=2)
    ax.set_ylim(top=ax.get_ylim()[1] * 1.15)  # room for the legend above the whiskers
    ax.set_title("same weights, same process, interleaved")
    fig.tight_layout()
    return fig
