"""vswin_edu.viz: every function returns a Figure with the expected axes and artists, warns nothing,
leaves no pyplot figure behind, and draws the numbers the chapters teach."""

import matplotlib

matplotlib.use("Agg")

import warnings

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure

from vswin_edu import style, viz
from vswin_edu.relpos import RelativePositionBias3D, relative_position_index
from vswin_edu.shift import region_ids, shifted_window_allowed, shifted_window_mask

SMALL = ((4, 4, 4), (2, 2, 2), (1, 1, 1))  # padded grid, window, shift: 8 windows of N=8


@pytest.fixture(autouse=True)
def no_warnings_no_leaks():
    open_before = plt.get_fignums()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert plt.get_fignums() == open_before, "a viz function left a pyplot figure open"


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def text_at(ax, x: int, y: int) -> str:
    return next(t.get_text() for t in ax.texts if t.get_position() == (x, y))


def hatched_cells(ax, pattern: str) -> int:
    return sum(
        len(c.get_paths())
        for c in ax.collections
        if isinstance(c, PatchCollection) and c.get_hatch() == pattern
    )


def render(fig: Figure) -> Figure:
    fig.canvas.draw()  # layout and text drawing warnings surface here
    return fig


def test_frame_strip_shows_evenly_spaced_frames_of_the_first_clip():
    video = torch.rand(2, 3, 5, 8, 12)
    fig = render(viz.plot_frame_strip(video, max_frames=3))
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["t=0", "t=2", "t=4"]
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert len(viz.plot_frame_strip(torch.randn(3, 2, 4, 4) * 5).axes) == 2  # any range is rescaled
    with pytest.raises(ValueError, match="video must have shape"):
        viz.plot_frame_strip(torch.rand(4, 2, 4, 4))
    with pytest.raises(ValueError, match="max_frames"):
        viz.plot_frame_strip(video, max_frames=0)


def test_token_grid_numbers_tokens_in_raster_order():
    fig = render(viz.plot_token_grid((2, 3, 3)))
    assert len(fig.axes) == 2
    assert texts(fig.axes[1]) == [str(9 + k) for k in range(9)]
    fig = render(viz.plot_token_grid((2, 3, 3), video_thw=(4, 10, 12)))
    assert len(fig.axes) == 2 and "video 4x10x12" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="ceil"):
        viz.plot_token_grid((2, 3, 3), video_thw=(4, 12, 12), patch_size=(2, 2, 2))


def test_windows_slices_label_every_token_with_its_window():
    fig = render(viz.plot_windows((2, 4, 4), (1, 2, 2)))
    assert len(fig.axes) == 2
    assert texts(fig.axes[0]) == ["0", "0", "1", "1"] * 2 + ["2", "2", "3", "3"] * 2
    assert set(texts(fig.axes[1])) == {"4", "5", "6", "7"}
    assert "8 windows" in fig._suptitle.get_text()


def test_shifted_windows_wrap_round_the_border():
    fig = render(viz.plot_windows((1, 4, 4), (1, 2, 2), (0, 1, 1), frame=0))
    assert len(fig.axes) == 1
    # with shift 1 the token at (0, 0) shares the window of the far corner (3, 3)
    ax = fig.axes[0]
    assert text_at(ax, 0, 0) == text_at(ax, 3, 3) == text_at(ax, 0, 3) == text_at(ax, 3, 0)


def test_windows_voxel_view_and_padding():
    fig = render(viz.plot_windows((3, 5, 4), (2, 4, 4), view="voxels"))
    assert len(fig.axes) == 1 and fig.axes[0].name == "3d"
    assert "4 windows" in fig._suptitle.get_text()  # 3x5x4 pads to 4x8x4: 2*2*1 windows of 2x4x4
    clamped = viz.plot_windows((1, 3, 3), (2, 4, 4))
    assert "clamped" in clamped._suptitle.get_text()
    with pytest.raises(ValueError, match="use view='slices'"):
        viz.plot_windows((16, 56, 56), (8, 7, 7), view="voxels")
    with pytest.raises(ValueError, match="view must be"):
        viz.plot_windows((2, 4, 4), (1, 2, 2), view="cube")


def test_cyclic_shift_shows_where_token_zero_lands():
    fig = render(viz.plot_cyclic_shift((4, 4, 4), (2, 2, 2), (1, 1, 1), frame=3))
    assert len(fig.axes) == 2
    before, after = fig.axes
    assert "lands at (3, 3, 3)" in fig._suptitle.get_text()
    assert "original frame 0" in after.get_title()
    assert text_at(after, 3, 3) == "0"  # rolled frame 3, row 3, col 3 holds token (0, 0, 0)
    assert text_at(before, 0, 0) == "48"  # original frame 3 starts at token 3*4*4
    # the tokens that wrap round in h or w: row 0 and column 0 of the frame, 7 of 16
    assert hatched_cells(before, "//") == hatched_cells(after, "//") == 7


def test_padding_vs_cyclic_counts_windows():
    assert viz.naive_window_counts((4, 8, 8), (2, 4, 4), (1, 2, 2)) == ((3, 3, 3), (2, 2, 2))
    assert viz.naive_window_counts((4, 6, 6), (2, 4, 4), (1, 2, 2)) == ((3, 2, 2), (2, 2, 2))
    assert viz.naive_window_counts((4, 8, 8), (2, 4, 4), (0, 2, 0)) == ((2, 3, 2), (2, 2, 2))
    # windows start at s + k*w: w - s = 4 tokens of padding in front when w = 7, s = 3 (not s = 3)
    assert viz.naive_window_counts((4, 11, 11), (2, 7, 7), (1, 3, 3)) == ((3, 3, 3), (2, 2, 2))
    assert viz.naive_window_counts((16, 56, 56), (8, 7, 7), (4, 3, 3)) == ((3, 9, 9), (2, 8, 8))  # 243 vs 128
    fig = render(viz.plot_padding_vs_cyclic((4, 8, 8), (2, 4, 4), (1, 2, 2)))
    assert len(fig.axes) == 2
    assert "27" in fig.axes[0].get_title() and "= 8" in fig.axes[1].get_title()
    right = fig.axes[1]  # original frame 0 sits in rolled frame 3: regular windows 4..7 of the 2nd slab
    assert (
        text_at(right, 0, 0) == "4"
        and text_at(right, 7, 7) == "7"
        and set(texts(right)) == {"4", "5", "6", "7"}
    )
    assert "padding needs 27 windows, the cyclic shift keeps 8" in fig._suptitle.get_text().replace("\n", " ")


def test_region_ids_are_drawn_with_their_labels():
    fig = render(viz.plot_region_ids(*SMALL))
    assert len(fig.axes) == 4
    ids = region_ids(*SMALL)
    assert texts(fig.axes[3]) == [str(r) for r in ids[3].flatten().tolist()]
    assert "27 regions" in fig._suptitle.get_text()
    assert len(viz.plot_region_ids(*SMALL, frame=0).axes) == 1
    with pytest.raises(ValueError, match="frame must be"):
        viz.plot_region_ids(*SMALL, frame=4)


@pytest.mark.parametrize("sort_by_region", [False, True])
def test_mask_matrix_counts_allowed_pairs(sort_by_region):
    allowed = shifted_window_allowed(*SMALL)
    fig = render(viz.plot_mask_matrix(*SMALL, 3, sort_by_region=sort_by_region))
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert f"{int(allowed[3].sum())} of 64 pairs may attend" in ax.get_title()
    assert len(ax.images) == 1
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines) == (2 if sort_by_region else 0)  # region boundary lines when sorted
    outlined = viz.plot_mask_matrix(*SMALL, 3, sort_by_region=sort_by_region, query_index=5).axes[0]
    assert len(outlined.patches) == len(ax.patches) + 2  # the query's row and column
    # a user mask (additive, -inf allowed) is drawn instead of the correct one
    user = torch.zeros(8, 8, 8)
    assert "64 of 64" in viz.plot_mask_matrix(*SMALL, 3, mask=user).axes[0].get_title()
    with pytest.raises(ValueError, match="window_index must be in"):
        viz.plot_mask_matrix(*SMALL, 8)


def test_attend_to_marks_the_query_and_its_allowed_keys():
    fig = render(viz.plot_attend_to(*SMALL, (0, 0, 0)))
    assert len(fig.axes) == 2 * 2  # 2 rows (original, rolled) x P=2 frames
    assert sum(texts(ax).count("Q") for ax in fig.axes) == 2  # once per row
    # (0,0,0) lands in the corner window 7, which has 8 regions of one token: it attends to itself
    assert "window 7" in fig._suptitle.get_text() and "may attend to 1 of 8" in fig._suptitle.get_text()
    assert sum(hatched_cells(ax, style.MASKED_HATCH) for ax in fig.axes) == 2 * 7
    assert (
        "may attend to 8 of 8"
        in viz.plot_attend_to(*SMALL, (0, 0, 0), mask=torch.zeros(8, 8, 8))._suptitle.get_text()
    )
    with pytest.raises(ValueError, match="query"):
        viz.plot_attend_to(*SMALL, (4, 0, 0))


def test_mask_diff_flags_exactly_the_wrong_entries_of_an_all_zeros_mask():
    correct = shifted_window_allowed(*SMALL)
    fig = render(viz.plot_mask_diff(*SMALL, torch.zeros(8, 8, 8)))
    assert len(fig.axes) == 1
    title = fig._suptitle.get_text().replace("\n", " ")
    assert f"{int((~correct).sum())} wrong entries" in title
    assert "must NOT attend" in title and "region" in title
    window = int(title.split("first: window ")[1].split(":")[0])
    assert fig.axes[0].get_title() == f"window {window}"
    # every masked pair of that window (and nothing else) is drawn as wrongly allowed
    assert hatched_cells(fig.axes[0], style.WRONG_ALLOWED_HATCH) == int((~correct[window]).sum())
    assert hatched_cells(fig.axes[0], style.WRONG_MASKED_HATCH) == 0


def test_mask_diff_accepts_correct_callables_and_names_wrongly_masked_pairs():
    fig = viz.plot_mask_diff(*SMALL, shifted_window_mask)
    assert "correct on all 8 windows" in fig._suptitle.get_text()
    everything_masked = torch.full((8, 8, 8), float("-inf"))
    fig = render(viz.plot_mask_diff(*SMALL, everything_masked, window_index=0))
    assert hatched_cells(fig.axes[0], style.WRONG_MASKED_HATCH) == int(
        shifted_window_allowed(*SMALL)[0].sum()
    )
    with pytest.raises(ValueError, match="query_index must be"):
        viz.plot_mask_diff(*SMALL, everything_masked, query_index=8)
    with pytest.raises(ValueError, match=r"mask must have shape \(nW, N, N\)"):
        viz.plot_mask_diff(*SMALL, torch.zeros(8, 8))
    with pytest.raises(TypeError, match="mask must be a torch.Tensor"):
        viz.plot_mask_diff(*SMALL, [[0.0]])


def test_relative_index_heat_map_and_query_boards():
    fig = render(viz.plot_relative_index((2, 2, 2)))
    assert len(fig.axes) == 2  # heat map + colour bar
    fig = render(viz.plot_relative_index((2, 2, 2), query=(1, 1, 1), key=0))
    assert len(fig.axes) == 1 + 2 + 1  # heat map, one board per key frame, the table
    index = relative_position_index((2, 2, 2))
    table = fig.axes[3]
    assert "row 26 lit" in table.get_title() and "8 rows used" in table.get_title()
    assert hatched_cells(table, "xx") == 1 and len(texts(table)) == 27
    assert texts(fig.axes[1]) == [str(v) for v in index[7, :4].tolist()]  # key frame t=0 of query 7
    assert "27 = 3x3x3 table rows" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="query"):
        viz.plot_relative_index((2, 2, 2), query=(2, 0, 0))


def test_bias_from_a_table_or_a_bias():
    torch.manual_seed(0)
    table = RelativePositionBias3D((2, 2, 2), num_heads=2).relative_position_bias_table
    fig = render(viz.plot_bias(table, (2, 2, 2), head=1))
    assert len(fig.axes) == 3  # bias, table tiles, one shared colour bar
    bias = RelativePositionBias3D((2, 2, 2), num_heads=2)()  # (nH, N, N)
    assert len(render(viz.plot_bias(bias, (2, 2, 2))).axes) == 2
    with pytest.raises(ValueError, match="bias_or_table must be"):
        viz.plot_bias(torch.zeros(5, 2), (2, 2, 2))


def test_attention_weights_on_the_window_grid():
    weights = torch.softmax(torch.randn(8, 8, generator=torch.Generator().manual_seed(0)), -1)
    fig = render(viz.plot_attention_weights(weights, (2, 2, 2), (1, 0, 1)))
    assert len(fig.axes) == 2 + 1  # P boards + colour bar
    assert texts(fig.axes[1]) == [f"{w:.2f}" for w in weights[5, 4:].tolist()]
    assert len(viz.plot_attention_weights(weights[5], (2, 2, 2), 5, frame=0).axes) == 2
    with pytest.raises(ValueError, match="weights must have shape"):
        viz.plot_attention_weights(torch.zeros(7), (2, 2, 2), 0)


def test_masked_softmax_bars_and_nan_label():
    logits = torch.tensor([1.0, 2.0, 3.0, 4.0])
    allowed = torch.tensor([True, True, False, False])
    weights = torch.tensor([0.3, 0.7, 0.0, float("nan")])
    fig = render(viz.plot_masked_softmax(logits, allowed, weights, exact=torch.tensor([0.27, 0.73, 0, 0])))
    assert len(fig.axes) == 2
    assert len(fig.axes[1].patches) == 4 and texts(fig.axes[1]) == ["NaN"]
    assert [bar.get_hatch() for bar in fig.axes[0].patches] == [None, None, "xx", "xx"] or [
        bar.get_hatch() or "" for bar in fig.axes[0].patches
    ] == ["", "", "xx", "xx"]


def test_lecture_mode_makes_figures_bigger_and_still_lays_them_out_cleanly():
    small = viz.plot_region_ids(*SMALL, frame=0).get_size_inches()
    try:
        style.lecture()
        big = render(viz.plot_region_ids(*SMALL, frame=0))
        render(viz.plot_attend_to(*SMALL, (1, 2, 3)))
        render(viz.plot_mask_diff(*SMALL, torch.zeros(8, 8, 8), query_index=0))
    finally:
        style.lecture(False)
    assert big.get_size_inches()[0] > small[0] and big.get_size_inches()[1] > small[1]
