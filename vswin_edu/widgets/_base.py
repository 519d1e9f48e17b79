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
from traitlets import TraitError, validate

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


class ControlValueError(TraitError, ValueError):
    """A control set to a value it cannot take; the message names the control and what it allows.

    A ``TraitError`` (what ipywidgets raises) and a ``ValueError`` (what the library raises for a bad
    argument), so code catching either still catches it.
    """


def _option_values(control: widgets.widget_selection._Selection) -> list[Any]:
    return list(control._options_values)


class Choice(widgets.Dropdown):
    """A dropdown whose error for a value that is not an option names the control and its options
    (ipywidgets says only "Invalid selection: value not found")."""

    @validate("value")
    def _validate_value(self, proposal: Any) -> Any:
        try:
            return super()._validate_value(proposal)
        except TraitError:
            raise ControlValueError(
                f"control {self.description!r} must be one of {_option_values(self)}, got {proposal.value!r}"
            ) from None


def dropdown(description: str, options: Any, value: Any) -> widgets.Dropdown:
    """A dropdown with a description (a :class:`Choice`: clear errors for values not among the options)."""
    return Choice(
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
        for name, value in values.items():  # check every value before any control moves
            check_control_value(name, self.controls[name], value)
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


def check_control_value(name: str, control: widgets.ValueWidget, value: Any) -> None:
    """Raise :class:`ControlValueError` naming ``name`` and what the control allows, unless
    ``control`` can take ``value`` (an option of a dropdown, a bool for a check box, a number for a
    slider)."""
    if isinstance(control, widgets.widget_selection._Selection):
        values = _option_values(control)
        if value is not None and value not in values:  # None: no selection, as ipywidgets allows
            raise ControlValueError(f"control {name!r} must be one of {values}, got {value!r}")
    elif isinstance(control, widgets.Checkbox | widgets.ToggleButton):
        if not isinstance(value, bool):
            raise ControlValueError(f"control {name!r} must be True or False, got {value!r}")
    elif isinstance(control, widgets.IntSlider | widgets.FloatSlider | widgets.FloatLogSlider):
        kinds = int if isinstance(control, widgets.IntSlider) else int | float
        number = isinstance(value, kinds)
        if isinstance(value, bool) or not number:
            kind = "an int" if isinstance(control, widgets.IntSlider) else "a number"
            low, high = control.min, control.max
            if isinstance(control, widgets.FloatLogSlider):  # min/max are exponents of the base
                low, high = control.base**low, control.base**high
            raise ControlValueError(f"control {name!r} must be {kind} in [{low:g}, {high:g}], got {value!r}")


def set_range(slider: widgets.IntSlider, high: int) -> None:
    """Set a slider's maximum, clamping its value first (ipywidgets rejects value > max)."""
    if slider.value > high:
        slider.value = high
    slider.max = high
