"""Global vs window attention: counted cost and measured time (Swin Eq. 1-2; chapter 2).

Global self-attention over ``L`` tokens costs ``4LC^2 + 2L^2C`` MACs and keeps ``nH x L x L``
attention weights; window attention with ``N`` tokens per window costs ``4LC^2 + 2LNC`` and keeps
``nH x L x N``.  On a log-log plot the first grows with slope 2, the second with slope 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import style
from ..complexity import attention_matrix_bytes, msa_macs, wmsa_macs
from ._draw import new_figure, suptitle

__all__ = ["plot_attention_cost", "plot_attention_time", "GLOBAL_STYLE", "WINDOW_STYLE"]

# Colour *and* line style *and* marker tell the two curves apart (colour-blind safe, Tol muted).
GLOBAL_STYLE = {"color": style.REGION_COLORS[1], "linestyle": "--", "marker": "o", "label": "global MSA"}
WINDOW_STYLE = {"color": style.REGION_COLORS[4], "linestyle": "-", "marker": "s", "label": "window W-MSA"}


def _positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _human(x: float, unit: str) -> str:
    """``5.63e9 MACs -> '5.63 GMACs'``; bytes in binary units, ``3.02e10 B -> '28.1 GiB'``."""
    base, prefixes = (1024, ("Ti", "Gi", "Mi", "Ki")) if unit == "B" else (1000, ("T", "G", "M", "k"))
    for power, prefix in zip((4, 3, 2, 1), prefixes, strict=True):
        if x >= base**power:
            return f"{x / base**power:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _curve(ax: Axes, L: np.ndarray, values: Sequence[float], spec: dict, every: int) -> None:
    ax.loglog(L, values, markevery=every, markersize=5 * style.figure_scale(), **spec)


def plot_attention_cost(
    C: int = 96, N: int = 392, num_heads: int = 3, mark: int | None = 50_176, L_max: int | None = None
) -> Figure:
    """MACs and attention-weight memory of one attention layer, global vs windowed, against ``L``.

    Args:
        C: channels per token (96 in Swin-T's stage 1).
        N: tokens per window (``8*7*7 = 392`` in the paper).  Where ``L < N`` the window is the
            whole grid (a window never exceeds the grid), so both curves meet.
        num_heads: heads ``nH`` (memory of the weights is ``nH * L * L`` or ``nH * L * N`` floats, fp32).
        mark: a token count to mark and annotate with both costs and their ratio (default: Swin-T's
            stage 1 on a 32x224x224 clip, ``L = 16*56*56 = 50,176``); None for no mark.
        L_max: right end of the L axis (default ``20 * mark`` or ``10^6``).

    Returns:
        A figure with two log-log axes: MACs, and attention-weight memory in bytes.
    """
    C, N, num_heads = (_positive_int(v, n) for v, n in ((C, "C"), (N, "N"), (num_heads, "num_heads")))
    if mark is not None:
        _positive_int(mark, "mark")
    L_max = _positive_int(L_max, "L_max") if L_max is not None else max(20 * (mark or 0), 10**6)
    L = np.unique(np.logspace(1, np.log10(L_max), 40).astype(np.int64))
    every = max(1, len(L) // 10)
    fig, axes = new_figure(1, 2, (5.2, 4.2))
    costs, memory = axes[0]
    Ls = [int(n) for n in L]
    Ns = [min(N, n) for n in Ls]
    Nm = min(N, mark or 1)
    panels = (  # axes, global curve, window curve, (global, window) at the mark, y label, unit
        (
            costs,
            [msa_macs(n, C) for n in Ls],
            [wmsa_macs(n, C, w) for n, w in zip(Ls, Ns, strict=True)],
            (msa_macs(mark, C), wmsa_macs(mark, C, Nm)) if mark else None,
            "MACs per layer",
            "MACs",
        ),
        (
            memory,
            [attention_matrix_bytes(n, None, num_heads) for n in Ls],
            [attention_matrix_bytes(n, w, num_heads) for n, w in zip(Ls, Ns, strict=True)],
            (attention_matrix_bytes(mark, None, num_heads), attention_matrix_bytes(mark, Nm, num_heads))
            if mark
            else None,
            f"attention weights, {num_heads} heads, fp32",
            "B",
        ),
    )
    for ax, global_curve, window_curve, at_mark, ylabel, unit in panels:
        _curve(ax, L, global_curve, GLOBAL_STYLE, every)
        _curve(ax, L, window_curve, WINDOW_STYLE, every)
        ax.set_xlabel("tokens L")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        if at_mark is not None:
            g, w = at_mark
            ax.axvline(mark, color="grey", linewidth=1)
            ax.annotate(
                f"L={mark:,}\nglobal {_human(g, unit)}\nwindow {_human(w, unit)}\n({g / w:.0f}x)",
                xy=(mark, w),
                xytext=(0.04, 0.96),
                textcoords="axes fraction",
                va="top",
                fontsize=9 * style.figure_scale(),
                arrowprops={"arrowstyle": "->", "color": "grey"},
            )
        ax.legend(loc="lower right")
        ax.minorticks_off()  # decades are enough, and minor log ticks make drawing several times slower
    costs.set_title(f"4LC² + 2L²C vs 4LC² + 2LNC (C={C}, N={N})")
    memory.set_title("nH·L·L vs nH·L·N floats")
    suptitle(fig, "Global attention grows with L², window attention with L")
    fig.tight_layout()
    return fig


def plot_attention_time(
    lengths: Sequence[int],
    global_seconds: Sequence[float],
    window_seconds: Sequence[float],
    title: str | None = None,
) -> Figure:
    """Measured time of global vs window attention against the number of tokens (log-log).

    The measurements come from the caller (chapter 2 times :func:`vswin_edu.reference.global_attention`
    against :class:`vswin_edu.attention.WindowAttention3D` on small grids); this function only draws
    them, with the slope-1 and slope-2 guides through the first point that the cost model predicts.

    Returns:
        A figure with one axes: seconds against tokens ``L``.
    """
    if not (len(lengths) == len(global_seconds) == len(window_seconds)) or len(lengths) < 2:
        raise ValueError(
            "lengths, global_seconds and window_seconds must have the same length >= 2, got "
            f"{len(lengths)}, {len(global_seconds)}, {len(window_seconds)}"
        )
    L = np.asarray(lengths, dtype=float)
    if (L <= 0).any() or (np.asarray(global_seconds) <= 0).any() or (np.asarray(window_seconds) <= 0).any():
        raise ValueError("lengths and times must be positive (a log-log plot)")
    fig, axes = new_figure(1, 1, (6.0, 4.2))
    ax = axes[0, 0]
    _curve(ax, L, global_seconds, GLOBAL_STYLE, 1)
    _curve(ax, L, window_seconds, WINDOW_STYLE, 1)
    for slope, ref in ((2, global_seconds[0]), (1, window_seconds[0])):
        ax.plot(L, ref * (L / L[0]) ** slope, color="grey", linewidth=1, linestyle=":")
        ax.text(L[-1], ref * (L[-1] / L[0]) ** slope, f" ∝ L{'²' if slope == 2 else ''}", va="center")
    ax.set_xlabel("tokens L")
    ax.set_ylabel("seconds per forward")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left")
    ax.minorticks_off()
    ax.set_xticks(L, [f"{n:,.0f}" for n in L])  # the measured sizes themselves
    ax.set_title(
        title or f"measured: global is {global_seconds[-1] / window_seconds[-1]:.0f}x slower at L={L[-1]:.0f}"
    )
    fig.tight_layout()
    return fig
