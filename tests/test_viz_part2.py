"""Drawings and widgets of chapters 8-12: figures, exact receptive fields, attention maps, widgets."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from vswin_edu.complexity import stage_table
from vswin_edu.data import multi_view_indices
from vswin_edu.model import video_swin_micro
from vswin_edu.viz import (
    attention_grid,
    collect_attention,
    plot_ablation,
    plot_attention_over_frames,
    plot_hierarchy,
    plot_merging,
    plot_multi_view,
    plot_receptive_field,
    plot_temporal_timeline,
    receptive_field,
)
from vswin_edu.widgets import AttentionMapViewer, ShapeTracer


@pytest.fixture(scope="module")
def micro():
    torch.manual_seed(0)
    return video_swin_micro().eval()


@pytest.fixture(scope="module")
def clip():
    return torch.randn(1, 3, 16, 32, 32, generator=torch.Generator().manual_seed(1))


# ----- hierarchy --------------------------------------------------------------------------------


def test_plot_merging_draws_three_panels():
    fig = plot_merging(4, 6)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[:4] == ["x0", "x2", "x0", "x2"] and texts[6:8] == ["x1", "x3"]  # row 0, then row 1


def test_plot_merging_rejects_odd_sizes():
    with pytest.raises(ValueError, match="H must be an even int"):
        plot_merging(3, 4)


def test_plot_hierarchy_one_bar_per_stage():
    rows = stage_table("t", (32, 224, 224))
    fig = plot_hierarchy(rows, title="Swin-T")
    assert len(fig.axes) == 3
    assert len(fig.axes[1].patches) == 4 and len(fig.axes[2].patches) == 4
    assert "sum over stages 87.3" in fig.axes[2].get_title()


def test_plot_hierarchy_rejects_other_rows():
    with pytest.raises(TypeError, match="StageInfo"):
        plot_hierarchy([(1, 2, 3)])
    with pytest.raises(ValueError, match="at least one stage"):
        plot_hierarchy([])


def test_temporal_timeline_counts_tokens_and_windows():
    fig = plot_temporal_timeline(clip_len=32, stride=2, patch_t=2, window_p=8)
    ax = fig.axes[0]
    assert "16 temporal tokens -> 2 window(s) of 8, shift 4" in ax.get_title()
    labels = [t.get_text() for t in ax.texts]
    assert labels.count("window 1") == 3  # regular window 1, shifted window 1 in two wrapped pieces
    short = plot_temporal_timeline(clip_len=8, stride=2, patch_t=2, window_p=8)
    assert "1 window(s) of 4, shift 0" in short.axes[0].get_title()  # window clamped to 4 tokens


# ----- receptive field (exact) ------------------------------------------------------------------


def test_receptive_field_counts_with_and_without_shift():
    def counts(shift):
        return [
            int((receptive_field((8, 8, 8), (4, 4, 4), shift, k, (3, 3, 3)) >= 0).sum()) for k in range(5)
        ]

    assert counts((2, 2, 2)) == [1, 64, 216, 512, 512]
    assert counts((0, 2, 2)) == [1, 64, 144, 256, 256]  # never crosses the temporal window border
    assert counts((0, 0, 0)) == [1, 64, 64, 64, 64]  # stuck in its first window


def test_receptive_field_first_block_is_the_window():
    reach = receptive_field((4, 6, 6), (2, 3, 3), (1, 1, 1), 1, (0, 0, 0))
    expected = torch.full((4, 6, 6), -1)
    expected[:2, :3, :3] = 1
    expected[0, 0, 0] = 0
    assert torch.equal(reach, expected)


def test_receptive_field_shifted_block_matches_mask():
    """After W then SW, token (1,1,1) of a 4x4x4 grid with window 2 reaches the shifted window round it."""
    reach = receptive_field((4, 4, 4), (2, 2, 2), (1, 1, 1), 2, (0, 0, 0))
    assert int((reach >= 0).sum()) == 27  # 2x2x2 window, then the 3x3x3 block of shifted windows


def test_receptive_field_rejects_bad_start():
    with pytest.raises(ValueError, match="query must be"):
        receptive_field((4, 4, 4), (2, 2, 2), (1, 1, 1), 1, (4, 0, 0))


def test_plot_receptive_field_one_board_per_frame():
    fig = plot_receptive_field(receptive_field((4, 4, 4), (2, 2, 2), (1, 1, 1), 2, (0, 0, 0)))
    assert len(fig.axes) == 4


# ----- attention maps ---------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [(0, 0), (0, 1), (1, 1)])
def test_attention_grid_rows_sum_to_one_on_real_tokens(micro, clip, layer):
    weights, dhw, window, shift = collect_attention(micro, clip, *layer)
    grid = attention_grid(weights, dhw, window, shift, (1, 2, 3))
    assert grid.shape == (weights.shape[1], *dhw)
    torch.testing.assert_close(grid.sum(dim=(1, 2, 3)), torch.ones(weights.shape[1]))


def test_attention_grid_matches_block_weights_without_shift(micro, clip):
    weights, dhw, window, shift = collect_attention(micro, clip, 0, 0)  # regular windows, 8x8x8 grid
    assert shift == (0, 0, 0)
    grid = attention_grid(weights, dhw, window, shift, (5, 6, 1))
    # query (5, 6, 1) sits in window (1, 1, 0) = id 1*4 + 1*2 + 0 = 6, at index (1*4 + 2)*4 + 1 = 25
    torch.testing.assert_close(grid[:, 4:8, 4:8, 0:4].reshape(-1, 64), weights[6, :, 25, :])
    assert grid[:, :4].abs().sum() == 0


def test_attention_grid_shifted_keys_stay_in_the_displaced_window(micro, clip):
    weights, dhw, window, shift = collect_attention(micro, clip, 0, 1)  # shift (2, 2, 2)
    grid = attention_grid(weights, dhw, window, shift, (3, 3, 3))
    support = grid[0] > 1e-6
    # the displaced window holding (3,3,3) spans [2, 6) on every axis
    assert support[2:6, 2:6, 2:6].all() and support.sum() == 64


def test_plot_attention_over_frames(clip):
    attn = torch.rand(8, 8, 8)
    fig = plot_attention_over_frames(clip, attn, (2, 1, 1))
    assert len(fig.axes) == 8
    with pytest.raises(ValueError, match="attn must be"):
        plot_attention_over_frames(clip, attn[0], (2, 1, 1))


def test_collect_attention_rejects_batches(micro):
    with pytest.raises(ValueError, match="one clip"):
        collect_attention(micro, torch.zeros(2, 3, 16, 32, 32), 0, 0)


# ----- multi-view and ablation ------------------------------------------------------------------


def test_plot_multi_view_counts_views():
    fig = plot_multi_view(multi_view_indices(100, 4, 32, 2), 100, (240, 320), 224, 3)
    assert "4 clips x 3 crops = 12 views" in fig.get_suptitle()
    assert len(fig.axes[0].collections) == 4


def test_plot_ablation_marks_missing_paper_numbers():
    fig = plot_ablation({"a": (0.9, 78.8), "b": (0.8, None)})
    assert "n/a" in [t.get_text() for t in fig.axes[1].texts]


# ----- widgets ----------------------------------------------------------------------------------


def test_shape_tracer_updates_and_clamps():
    tracer = ShapeTracer()
    assert tracer.state["rows"][3].shift == (4, 0, 0)
    png = tracer.image.value
    tracer.controls["resolution"].value = 112
    assert [r.window for r in tracer.state["rows"]][3] == (8, 4, 4)
    assert tracer.image.value != png
    tracer.controls["variant"].value = "micro"
    assert len(tracer.state["rows"]) == 2 and tracer.state["params"] < 1e6


def test_shape_tracer_rejects_unknown_variant():
    with pytest.raises(ValueError, match="variant must be one of"):
        ShapeTracer(variant="Swin-X")


def test_attention_viewer_follows_layer_and_query(micro, clip):
    viewer = AttentionMapViewer(micro, clip)
    assert viewer.state["grid"] == (8, 8, 8) and viewer.controls["h"].max == 7
    viewer.set(layer=(1, 1), head=5, t=3, h=3, w=3)
    assert viewer.state["grid"] == (8, 4, 4) and viewer.state["shift"] == (2, 0, 0)
    assert viewer.controls["h"].max == 3 and viewer.controls["head"].max == 5
    assert 0.0 <= viewer.state["mass_in_query_frame"] <= 1.0


def test_attention_viewer_errors_propagate(micro, clip):
    viewer = AttentionMapViewer(micro, clip)
    viewer._cache[(0, 0)] = (torch.zeros(1, 3, 2, 2), (8, 8, 8), (4, 4, 4), (0, 0, 0))  # corrupt
    with pytest.raises(ValueError, match="do not fit grid"):
        viewer.controls["w"].value = 1
