"""The audit of a whole model at a glance: one row per block, one column per check (chapter 5).

:func:`vswin_edu.audit.audit` compares every block of an implementation with the oracles; this
figure shows each block as a row — stage and block, W-MSA or SW-MSA, its grid and the window and
shift the oracle expects there — and four cells for the checks (windows, shift, mask, bias), each
with its verdict written in it and hatched when wrong (colour is never the only cue).  The first
wrong finding is written out under the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import style
from ._draw import figure_legend, finish, legend_patch, new_figure, suptitle

__all__ = ["plot_audit"]

CHECKS = ("windows", "shift", "mask", "bias")
STATUS = ("ok", "warning", "wrong")
STATUS_COLORS = ("#44AA99", style.WRONG_ALLOWED_COLOR, style.WRONG_MASKED_COLOR)  # teal, yellow, orange
STATUS_TEXT = {"ok": "OK", "warning": "warn", "wrong": "WRONG"}
WRONG_HATCH = "//"


def _size(size: tuple[int, int, int]) -> str:
    return "x".join(str(n) for n in size)


def _row_label(block: Any) -> str:
    geo = block.geometry
    shift = ",".join(str(s) for s in geo.shift)
    return (
        f"stage {block.stage} block {block.index}  {block.kind}  grid {_size(block.grid)}  "
        f"window {_size(geo.window)}  shift {shift}"
    )


def plot_audit(report: Any, title: str = "") -> Figure:
    """Every block of an audited model as a row of check verdicts.

    Args:
        report: a :class:`vswin_edu.audit.AuditReport` (anything with ``blocks`` whose items have
            ``stage, index, kind, grid, geometry, status(check)`` and ``findings``, and
            ``summary()``, ``first_wrong()``).
        title: figure title (default: what was audited, and the first wrong finding).

    Returns:
        A figure with one axes: rows = blocks in forward order, columns = the four checks.
    """
    blocks = list(getattr(report, "blocks", ()))
    if not blocks:
        raise ValueError("report must be an AuditReport with at least one block (vswin_edu.audit.audit)")
    codes = np.array([[STATUS.index(b.status(c)) for c in CHECKS] for b in blocks])  # (L, 4)
    L = len(blocks)
    fig, axes = new_figure(1, 1, (9.5, 0.34 * L + 2.2))
    ax = axes[0, 0]
    ax.imshow(
        codes, cmap=ListedColormap(STATUS_COLORS), vmin=0, vmax=2, aspect="auto", interpolation="nearest"
    )
    size = "x-small" if L > 16 else "small"
    for i, block in enumerate(blocks):
        for k, check in enumerate(CHECKS):
            status = block.status(check)
            color = STATUS_COLORS[STATUS.index(status)]
            if status == "wrong":
                ax.add_patch(Rectangle((k - 0.5, i - 0.5), 1, 1, fill=False, hatch=WRONG_HATCH,
                                       edgecolor="#333333", linewidth=0))  # fmt: skip
            box = dict(facecolor=color, edgecolor="none", pad=1.5)  # legible over the hatching
            ax.text(k, i, STATUS_TEXT[status], ha="center", va="center", fontsize=size, zorder=3,
                    color=style.text_color(color), bbox=box)  # fmt: skip
    ax.set_yticks(range(L), [_row_label(b) for b in blocks], fontsize=size, family="monospace")
    ax.set_xticks(range(len(CHECKS)), CHECKS)
    ax.xaxis.tick_top()
    ax.set_xticks(np.arange(-0.5, len(CHECKS)), minor=True)
    ax.set_yticks(np.arange(-0.5, L), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    first = report.first_wrong()
    note = "every check of every block agrees with the oracles" if first is None else (
        f"first wrong: {first[0].label} — {first[1].describe()}"
    )  # fmt: skip
    figure_legend(fig, [
        legend_patch("OK: equals the oracle", STATUS_COLORS[0]),
        legend_patch("warn: same in fp32, fragile", STATUS_COLORS[1]),
        legend_patch("WRONG", STATUS_COLORS[2], WRONG_HATCH),
    ])  # fmt: skip
    suptitle(fig, title or f"{report.summary().split(':')[0]}\n{note}")
    finish(fig)
    return fig
