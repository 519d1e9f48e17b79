"""One look for every figure of the course: window/region colours and the ``lecture()`` switch.

A window id or a region id has the same colour in every chapter, so a learner who met "window 3
is pink" in chapter 3 sees the same pink in chapter 5.  The palettes are Paul Tol's colour-blind
safe sets (*light* for windows, *muted* for regions).  Colour is never the only cue: windows beyond
the palette and the temporal slice of a region also get a hatch pattern, and cells carry numbers.

``lecture()`` switches matplotlib to 18-22 pt fonts and thick lines for a projector and tells the
widgets to lay themselves out wider.  Pure matplotlib: this module never imports ipywidgets.
"""

from __future__ import annotations

import matplotlib as mpl
from matplotlib.colors import ListedColormap, to_rgb

__all__ = [
    "WINDOW_COLORS",
    "WINDOW_CMAP",
    "WINDOW_HATCHES",
    "REGION_COLORS",
    "REGION_HATCHES",
    "MASKED_COLOR",
    "ALLOWED_COLOR",
    "WRONG_ALLOWED_COLOR",
    "WRONG_MASKED_COLOR",
    "PAD_COLOR",
    "QUERY_COLOR",
    "MASKED_HATCH",
    "WRONG_ALLOWED_HATCH",
    "WRONG_MASKED_HATCH",
    "window_color",
    "window_hatch",
    "region_color",
    "region_hatch",
    "text_color",
    "lecture",
    "is_lecture",
    "figure_scale",
    "widget_width",
    "readout_font_size",
]

# Paul Tol "light": pale enough that black cell numbers stay readable on top.
WINDOW_COLORS: tuple[str, ...] = (
    "#77AADD",
    "#EE8866",
    "#EEDD88",
    "#FFAABB",
    "#99DDFF",
    "#44BB99",
    "#BBCC33",
    "#AAAA00",
)
WINDOW_CMAP = ListedColormap(WINDOW_COLORS, name="vswin_windows")
# Window i gets colour i % 8 and hatch (i // 8) % 4, so 32 windows are told apart without colour.
WINDOW_HATCHES: tuple[str, ...] = ("", "//", "..", "xx")

# Paul Tol "muted" (9 colours): one per spatial region (3 h-slices x 3 w-slices).
REGION_COLORS: tuple[str, ...] = (
    "#88CCEE",
    "#CC6677",
    "#DDCC77",
    "#117733",
    "#332288",
    "#AA4499",
    "#44AA99",
    "#999933",
    "#882255",
)
# The temporal slice r_d of region ``9*r_d + 3*r_h + r_w`` is shown by the hatch.
REGION_HATCHES: tuple[str, ...] = ("", "//", "..")

ALLOWED_COLOR = "#DDEEFF"  # may attend
# masked by the shifted-window mask: a neutral near-black, far from every region colour (Tol muted's darkest,
# indigo #332288, used to be all but identical to it on a projector); tests/test_style.py keeps them apart
MASKED_COLOR = "#111111"
WRONG_ALLOWED_COLOR = "#FFEE33"  # a user mask lets through a pair the correct mask forbids (warning yellow)
WRONG_MASKED_COLOR = "#EE7733"  # a user mask forbids a pair the correct mask allows
PAD_COLOR = "#DDDDDD"  # zero-padded tokens
QUERY_COLOR = "#009988"  # outline of the query token / its mask row (visible on light and dark cells)
MASKED_HATCH = ".."  # masked pairs/keys
WRONG_ALLOWED_HATCH = "xx"
WRONG_MASKED_HATCH = "//"

_LECTURE_RC = {
    "font.size": 18,
    "axes.titlesize": 22,
    "axes.labelsize": 20,
    "figure.titlesize": 22,
    "xtick.labelsize": 18,
    "ytick.labelsize": 18,
    "legend.fontsize": 18,
    "lines.linewidth": 3.0,
    "axes.linewidth": 2.0,
    "patch.linewidth": 1.5,
    "hatch.linewidth": 1.5,
    "xtick.major.width": 2.0,
    "ytick.major.width": 2.0,
    "axes.edgecolor": "black",
    "text.color": "black",
    "axes.labelcolor": "black",
}
_saved_rc: dict[str, object] = {}
_lecture_on = False


def window_color(i: int) -> str:
    """Colour of window ``i`` (the same in every chapter); cycles after 8, see :func:`window_hatch`."""
    return WINDOW_COLORS[int(i) % len(WINDOW_COLORS)]


def window_hatch(i: int) -> str:
    """Hatch of window ``i``: none for windows 0-7, then ``//``, ``..``, ``xx``."""
    return WINDOW_HATCHES[(int(i) // len(WINDOW_COLORS)) % len(WINDOW_HATCHES)]


def region_color(r: int) -> str:
    """Colour of region ``r = 9*r_d + 3*r_h + r_w`` (:func:`vswin_edu.shift.region_ids`).

    The colour encodes the spatial slices ``(r_h, r_w)``; the temporal slice is the hatch.
    """
    r = int(r)
    if not 0 <= r < 27:
        raise ValueError(f"region id r must be in [0, 27), got {r}")
    return REGION_COLORS[r % 9]


def region_hatch(r: int) -> str:
    """Hatch of region ``r``: none, ``//`` or ``..`` for temporal slice ``r_d = r // 9`` = 0, 1, 2."""
    r = int(r)
    if not 0 <= r < 27:
        raise ValueError(f"region id r must be in [0, 27), got {r}")
    return REGION_HATCHES[r // 9]


def text_color(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (relative luminance)."""
    red, green, blue = to_rgb(background)
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "white"


def lecture(on: bool = True) -> None:
    """Switch lecture mode on (big fonts, thick lines, wider widgets) or back off.

    Sets matplotlib's ``rcParams`` (saving the previous values, restored by ``lecture(False)``) and
    a flag that :mod:`vswin_edu.widgets` reads when it builds a widget.  Figures and widgets created
    *after* the call use the new style.
    """
    global _lecture_on
    if not isinstance(on, bool):
        raise TypeError(f"on must be a bool, got {type(on).__name__}")
    if on and not _lecture_on:
        _saved_rc.update({key: mpl.rcParams[key] for key in _LECTURE_RC})
        mpl.rcParams.update(_LECTURE_RC)
    elif not on and _lecture_on:
        mpl.rcParams.update(_saved_rc)
        _saved_rc.clear()
    _lecture_on = on


def is_lecture() -> bool:
    """Whether :func:`lecture` mode is on."""
    return _lecture_on


def figure_scale() -> float:
    """Factor by which ``viz`` enlarges its figures: 1.75 in lecture mode (fonts about double), else 1."""
    return 1.75 if _lecture_on else 1.0


def readout_font_size() -> str:
    """CSS font size of a widget's readout: 20px in lecture mode, else 14px."""
    return "20px" if _lecture_on else "14px"


def widget_width() -> str:
    """CSS width of a widget's image: wider in lecture mode."""
    return "1100px" if _lecture_on else "760px"
