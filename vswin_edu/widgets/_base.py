"""The base class of every widget: controls -> a ``viz`` figure -> PNG bytes + a readout.

A widget is thin: subclasses declare their controls and a ``render(values)`` that calls ``viz``
and returns ``(figure, results)``.  The base class wires the controls, keeps ``.state`` (the
control values plus the results), ``.figure`` and ``.image`` (an ``ipywidgets.Image`` whose PNG
bytes are saved with the notebook's widget state, so the HTML book shows the default view without
a kernel), and a readout with the key numbers.

Errors are never swallowed: with ``strict=True`` (the default) an error in ``render`` propagates
to whoever set the control (a kernel-side ``control.value = ...`` raises), and in every mode the
error text is shown in the readout, so a learner moving a slider in the browser sees it too.
"""

from __future__ import annotations

import html
import io
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from .. import style

READOUT_CLASS = "widget-readout"  # browser tests find the readout by this CSS class
LECTURE_CLASS = "vswin-lecture"
# ipywidgets' styles cannot set label fonts, so lecture mode ships a scoped style sheet
LECTURE_CSS = (
    f"<style>.{LECTURE_CLASS} .widget-label, .{LECTURE_CLASS} .widget-readout, "
    f".{LECTURE_CLASS} .widget-dropdown select, .{LECTURE_CLASS} .widget-readout-value "
    f"{{font-size: 20px !important; line-height: 28px !important;}} "
    f".{LECTURE_CLASS} .widget-slider {{width: 480px !important;}}</style>"
)


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (fixed dpi and metadata, so equal figures give equal bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return buffer.getvalue()


def int_slider(description: str, value: int, low: int, high: int) -> widgets.IntSlider:
    """An integer slider with a description (browser tests find controls by it)."""
    return widgets.IntSlider(
        value=value,
        min=low,
        max=high,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
    )


def dropdown(description: str, options: Any, value: Any) -> widgets.Dropdown:
    """A dropdown with a description."""
    return widgets.Dropdown(
        options=options, value=value, description=description, style={"description_width": "initial"}
    )


def toggle(description: str, value: bool) -> widgets.Checkbox:
    """A check box with a description."""
    return widgets.Checkbox(value=value, description=description, indent=False)


class VizWidget:
    """Controls wired to a drawing function.

    Subclasses implement :meth:`make_controls` (name -> ipywidget), :meth:`render` (control values
    -> ``(Figure, results dict)``) and optionally :meth:`sync` (adjust control ranges that depend
    on other controls, e.g. a query slider's maximum) and :meth:`readout_lines`.

    Attributes:
        controls: name -> ipywidget; set ``controls[name].value`` to drive the widget.
        state: current control values and the results of the last render (plus ``"error"``).
        figure: the last matplotlib ``Figure``.
        image: ``ipywidgets.Image`` holding its PNG bytes.
        readout: ``ipywidgets.HTML`` with the key numbers (CSS class ``widget-readout``).
        widget: the ``VBox`` to display.
    """

    title = ""

    def __init__(self, *, strict: bool = True) -> None:
        self.strict = strict
        self.state: dict[str, Any] = {}
        self.figure: Figure | None = None
        self.controls: dict[str, widgets.ValueWidget] = self.make_controls()
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=style.widget_width()))
        # height "auto": an HTML widget is one line high by default, which hides a multi-line readout
        self.readout = widgets.HTML(layout=widgets.Layout(width=style.widget_width(), height="auto"))
        self.readout.add_class(READOUT_CLASS)
        box = widgets.Layout(flex_flow="row wrap", width=style.widget_width())
        header = widgets.HTML(f"<b>{html.escape(self.title)}</b>")
        self.widget = widgets.VBox([header, widgets.Box(list(self.controls.values()), layout=box)])
        if style.is_lecture():  # bigger labels and sliders for a projector
            self.widget.add_class(LECTURE_CLASS)
            self.widget.children = (widgets.HTML(LECTURE_CSS), *self.widget.children)
        self.widget.children = (*self.widget.children, self.readout, self.image)
        self._busy = False
        self.changed: str | None = None  # name of the control that triggered the current update
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    # -- to implement -------------------------------------------------------------------------
    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        raise NotImplementedError

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        raise NotImplementedError

    def sync(self) -> None:
        """Adjust dependent control ranges before a render (default: nothing)."""

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        """Lines of the readout (HTML-escaped by the caller)."""
        return [f"{key}: {value}" for key, value in state.items() if key not in self.controls]

    # -- machinery ----------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Current value of every control."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values: Any) -> None:
        """Set several controls at once and render once (e.g. ``w.set(t=1, h=2, w=0)``).

        Unknown names raise ``KeyError`` listing the controls.
        """
        unknown = set(values) - set(self.controls)
        if unknown:
            raise KeyError(f"unknown control(s) {sorted(unknown)}; this widget has {sorted(self.controls)}")
        self._busy = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._busy = False
        self.changed = next(reversed(values), None)
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._busy:  # sync() may move other controls: render once, after it
            self.changed = next((n for n, c in self.controls.items() if c is change["owner"]), None)
            self.update()

    def update(self) -> None:
        """Re-render from the current control values (called on every change)."""
        self._busy = True
        try:
            self.sync()
            values = self.values()
            fig, results = self.render(values)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            self.state["error"] = message
            self.readout.value = (
                f'<div style="font-size: {style.readout_font_size()}; color: #B00020">'
                f"<b>error</b> {html.escape(message)}</div>"
            )
            if self.strict:
                raise
            return
        finally:
            self._busy = False
        self.state = {**values, **results, "error": None}
        self.figure = fig
        self.image.value = png_bytes(fig)
        lines = "<br>".join(html.escape(line) for line in self.readout_lines(self.state))
        self.readout.value = (
            f'<div style="font-size: {style.readout_font_size()}; line-height: 1.4; white-space: normal">'
            f"{lines}</div>"
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def set_range(slider: widgets.IntSlider, high: int) -> None:
    """Set a slider's maximum, clamping its value first (ipywidgets rejects value > max)."""
    if slider.value > high:
        slider.value = high
    slider.max = high
