"""Legibility of a figure, for the tests: every text it draws, and which ones collide or fall off.

A figure is drawn with the Agg renderer while :meth:`matplotlib.text.Text.draw` is watched, so only
texts that really reach the picture count (clipped-away ones do not).  Used by
``test_figures_legible.py`` (every viz function) and ``test_viz_widgets_new.py``.
"""

from __future__ import annotations

import contextlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

PIXEL = 1.0  # overlaps and overhangs up to a pixel are rounding, not a collision


@contextlib.contextmanager
def _drawn_texts():
    """Collect every Text that draws itself while the block runs."""
    drawn: list[Text] = []
    original = Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    Text.draw = draw
    try:
        yield drawn
    finally:
        Text.draw = original


def text_boxes(fig: Figure) -> list[tuple[str, tuple[float, float, float, float]]]:
    """``(text, (x0, y0, x1, y1))`` in pixels of every text the figure draws, clipped to its clip box."""
    canvas = FigureCanvasAgg(fig)
    with _drawn_texts() as drawn:
        canvas.draw()
    renderer = canvas.get_renderer()
    boxes, seen = [], set()
    for text in drawn:
        if id(text) in seen:
            continue
        seen.add(id(text))
        bb = text.get_window_extent(renderer)
        x0, y0, x1, y1 = bb.x0, bb.y0, bb.x1, bb.y1
        clip = text.get_clip_box() if text.get_clip_on() else None
        if clip is not None:
            x0, y0, x1, y1 = max(x0, clip.x0), max(y0, clip.y0), min(x1, clip.x1), min(y1, clip.y1)
            if x1 <= x0 or y1 <= y0:
                continue  # clipped away: not on the picture
        boxes.append((text.get_text(), (x0, y0, x1, y1)))
    return boxes


def legibility_problems(fig: Figure) -> list[str]:
    """Overlapping pairs of drawn texts, and texts that stick out of the figure, in words."""
    boxes = text_boxes(fig)
    problems = []
    if boxes:
        b = np.array([box for _, box in boxes])  # (n, 4)
        dx = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
        dy = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
        for i, j in zip(*np.nonzero(np.triu((dx > PIXEL) & (dy > PIXEL), 1)), strict=True):
            problems.append(f"{boxes[i][0]!r} overlaps {boxes[j][0]!r} by {dx[i, j]:.0f} x {dy[i, j]:.0f} px")
    W, H = fig.canvas.get_width_height()
    for text, (x0, y0, x1, y1) in boxes:
        if x0 < -PIXEL or y0 < -PIXEL or x1 > W + PIXEL or y1 > H + PIXEL:
            problems.append(
                f"{text!r} falls off the {W}x{H} px figure at ({x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f})"
            )
    return problems
