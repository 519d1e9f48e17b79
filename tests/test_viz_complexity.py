"""Chapter 2's cost figures (vswin_edu.viz.complexity): global vs window attention, in MACs and
memory, and measured times.

(The AttentionCostExplorer widget is tested in test_widgets.py.)"""

from __future__ import annotations

import warnings

import pytest
from matplotlib.figure import Figure

from vswin_edu.viz import plot_attention_cost, plot_attention_time


def test_plot_attention_cost_draws_two_panels_with_both_curves():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_attention_cost(C=96, N=392, num_heads=3, mark=50_176)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    for ax in fig.axes:
        labels = [line.get_label() for line in ax.get_lines()]
        assert "global MSA" in labels and "window W-MSA" in labels
    annotation = [t.get_text() for t in fig.axes[0].texts]
    assert any("global 485 GMACs" in t and "window 5.63 GMACs" in t and "(86x)" in t for t in annotation)
    memory = [t.get_text() for t in fig.axes[1].texts]
    assert any("global 28.1 GiB" in t and "window 225 MiB" in t and "(128x)" in t for t in memory)


def test_plot_attention_cost_rejects_bad_sizes():
    with pytest.raises(ValueError, match="N must be a positive int, got 0"):
        plot_attention_cost(N=0)


def test_plot_attention_time():
    fig = plot_attention_time([64, 128, 256], [1e-3, 4e-3, 16e-3], [1e-3, 2e-3, 4e-3])
    assert len(fig.axes) == 1 and "global is 4x slower at L=256" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="same length"):
        plot_attention_time([64, 128], [1e-3], [1e-3, 2e-3])
