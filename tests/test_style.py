"""vswin_edu.style: consistent colour-blind-safe colours and the lecture() switch."""

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl
import pytest
from matplotlib.colors import is_color_like

from vswin_edu import style


def test_window_colours_are_stable_and_cycle_with_hatches():
    assert style.window_color(3) == style.WINDOW_COLORS[3] == style.window_color(3)
    assert style.window_color(8) == style.window_color(0)
    assert style.window_hatch(0) == "" and style.window_hatch(8) != ""
    assert style.window_hatch(8) != style.window_hatch(16)
    assert style.WINDOW_CMAP.N == len(style.WINDOW_COLORS)
    assert len(set(style.WINDOW_COLORS)) == len(style.WINDOW_COLORS)


def test_region_colour_encodes_spatial_slices_and_hatch_the_temporal_slice():
    assert style.region_color(4) == style.region_color(13) == style.region_color(22)
    assert len({style.region_color(r) for r in range(9)}) == 9
    assert [style.region_hatch(r) for r in (0, 9, 18)] == list(style.REGION_HATCHES)
    with pytest.raises(ValueError, match="region id r must be in"):
        style.region_color(27)
    with pytest.raises(ValueError, match="region id r must be in"):
        style.region_hatch(-1)


def test_every_named_colour_is_valid():
    named = [style.ALLOWED_COLOR, style.MASKED_COLOR, style.WRONG_ALLOWED_COLOR, style.WRONG_MASKED_COLOR]
    for colour in [*style.WINDOW_COLORS, *style.REGION_COLORS, style.PAD_COLOR, *named]:
        assert is_color_like(colour)


def test_text_colour_contrasts_with_the_background():
    assert style.text_color("#FFFFFF") == "black"
    assert style.text_color(style.MASKED_COLOR) == "white"


def test_lecture_mode_sets_and_restores_rcparams():
    before = mpl.rcParams["font.size"], mpl.rcParams["lines.linewidth"]
    assert not style.is_lecture()
    try:
        style.lecture()
        assert style.is_lecture()
        assert 18 <= mpl.rcParams["font.size"] <= 22
        assert mpl.rcParams["lines.linewidth"] >= 3
        assert style.figure_scale() > 1
        wide = style.widget_width()
        style.lecture(True)  # idempotent: a second call must not overwrite the saved values
    finally:
        style.lecture(False)
    assert not style.is_lecture()
    assert (mpl.rcParams["font.size"], mpl.rcParams["lines.linewidth"]) == before
    assert style.figure_scale() == 1.0
    assert style.widget_width() != wide


def test_lecture_rejects_non_bool():
    with pytest.raises(TypeError, match="on must be a bool"):
        style.lecture("yes")
