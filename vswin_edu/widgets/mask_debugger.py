"""The visual mask debugger (chapter 5, and usable on its own).

Pick a grid, a window, a shift and a query token: see whom the token may attend to after the
cyclic shift (on the original and on the rolled grid), its region, its row of the mask and the
window's ``N x N`` mask.  Give it your own mask — a tensor or a function
``mask(dhw, window_size, shift_size)`` — and diff mode highlights exactly the wrong entries and
names the first mismatch in ``(t, h, w)`` video coordinates with region ids.

    from vswin_edu.widgets import MaskDebugger
    MaskDebugger(my_mask_function)            # displays itself in a notebook
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from .. import style, viz
from ..geometry import locate_token, rolled_to_original, window_geometry, window_positions
from ..reference import MaskLike, allowed_pairs, mask_mismatches, mask_value_problem, resolve_mask
from ..shift import window_region_ids
from ._base import VizWidget, int_slider, png_bytes, set_range, toggle

__all__ = ["MaskDebugger"]


class MaskDebugger(VizWidget):
    """Whom may this token attend to, and where is a mask wrong?

    Args:
        user_mask: optional mask to debug: bool ``(nW, N, N)`` (True = may attend), additive float
            (0 / -100 / -inf), or a callable ``(dhw, window_size, shift_size) -> mask`` (re-run
            whenever the grid, window or shift changes).
        dhw, window_size, shift_size: the starting grid, window ``(P, M, M)`` and shift.
        strict: re-raise errors (default); otherwise only show them in the readout.

    The upper image is "whom may the query attend to" (under ``user_mask`` when diff mode is on);
    the lower one is the query's window's mask, sorted by region on demand, or in diff mode the
    comparison with the correct mask.

    ``state`` holds, besides the control values: ``query`` and ``query_rolled`` (``(t, h, w)``),
    ``window_index``, ``token_index``, ``query_region``, ``allowed_count`` (keys the query may
    attend to under the correct mask), ``allowed_keys`` (their ``(t, h, w)``), ``mismatches``
    (number of wrong entries of the user mask over all windows, ``None`` without one),
    ``first_mismatch`` (a :class:`vswin_edu.reference.MaskMismatch` or ``None``),
    ``query_mismatches`` (keys ``(t, h, w)`` of the query's row that are wrong) and
    ``diff_error`` (why the user mask could not be compared, e.g. a shape for another grid, or NaN),
    ``mask_values`` (what is wrong with the user mask's values, e.g. -inf or -1e9 instead of -100,
    in the words of the chapter-5 checker; ``None`` when they are fine),
    ``masked_pairs_window`` and ``masked_pairs_total`` (pairs the correct mask removes).
    """

    title = "Mask debugger: whom may this token attend to after the cyclic shift?"

    def __init__(
        self,
        user_mask: MaskLike | None = None,
        dhw=(4, 8, 8),
        window_size=(2, 4, 4),
        shift_size=(1, 2, 2),
        *,
        strict: bool = True,
    ) -> None:
        if user_mask is not None and not (callable(user_mask) or isinstance(user_mask, torch.Tensor)):
            raise TypeError(
                f"user_mask must be a tensor, a callable (dhw, window_size, shift_size) -> mask or None, "
                f"got {type(user_mask).__name__}"
            )
        geo = window_geometry(dhw, window_size, shift_size)  # validates the starting point
        if geo.window[1] != geo.window[2]:
            raise ValueError(f"window_size must be (P, M, M) with equal H and W sides, got {geo.window}")
        self.user_mask = user_mask
        self._start = geo
        self.mask_figure: Figure | None = None
        self.mask_image = widgets.Image(format="png", layout=widgets.Layout(width=style.widget_width()))
        super().__init__(strict=strict)
        self.widget.children = (*self.widget.children, self.mask_image)

    @classmethod
    def from_audit(
        cls, report: Any, block: int | str | tuple[int, int], *, strict: bool = True
    ) -> MaskDebugger:
        """The debugger on the mask one block of an audited model really used, in diff mode.

        Args:
            report: a :class:`vswin_edu.audit.AuditReport`.
            block: the block, by position, module name (``"features.0.1"``) or ``(stage, index)``.

        The grid, window and shift start at the block's (as the oracle expects them there) and the
        query at the first wrong mask entry, when there is one.
        """
        audited = report.block(block)
        geo = audited.geometry
        debugger = cls(
            audited.mask, dhw=audited.grid, window_size=geo.window, shift_size=geo.shift, strict=strict
        )
        wrong = next((f for f in audited.findings if f.check == "mask" and f.query is not None), None)
        if wrong is not None:
            debugger.set(**dict(zip("thw", wrong.query, strict=True)))
        return debugger

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        (D, H, W), (P, M, _), (sd, sh, sw) = self._start.dhw, self._start.window, self._start.shift
        return {
            # the ranges grow to hold a larger starting grid (e.g. a real stage's 8x56x56)
            "T": int_slider("T (token frames)", D, 1, max(8, D)),
            "H": int_slider("H (token rows)", H, 1, max(16, H)),
            "W": int_slider("W (token cols)", W, 1, max(16, W)),
            "P": int_slider("P (window frames)", P, 1, max(8, P)),
            "M": int_slider("M (window side)", M, 1, max(8, M)),
            "shift_t": int_slider("shift t", sd, 0, max(0, P - 1)),
            "shift_h": int_slider("shift h", sh, 0, max(0, M - 1)),
            "shift_w": int_slider("shift w", sw, 0, max(0, M - 1)),
            "t": int_slider("query t", 0, 0, D - 1),
            "h": int_slider("query h", 0, 0, H - 1),
            "w": int_slider("query w", 0, 0, W - 1),
            "window": int_slider("window index", 0, 0, self._start.num_windows - 1),
            "sort": toggle("sort mask by region", True),
            "mask_on": toggle("apply the mask", True),
            "diff": toggle("diff mode (your mask)", self.user_mask is not None),
        }

    def _geometry(self):
        c = self.controls
        return window_geometry(
            (c["T"].value, c["H"].value, c["W"].value),
            (c["P"].value, c["M"].value, c["M"].value),
            (c["shift_t"].value, c["shift_h"].value, c["shift_w"].value),
        )

    def sync(self) -> None:
        c = self.controls
        set_range(c["shift_t"], max(0, c["P"].value - 1))
        set_range(c["shift_h"], max(0, c["M"].value - 1))
        set_range(c["shift_w"], max(0, c["M"].value - 1))
        geo = self._geometry()
        for name, n in zip("thw", geo.padded, strict=True):
            set_range(c[name], n - 1)
        set_range(c["window"], geo.num_windows - 1)
        if self.changed == "window":  # picking a window moves the query to its first token
            first = window_positions(c["window"].value, geo.padded, geo.window)[0].tolist()
            for name, a in zip("thw", rolled_to_original(first, geo.shift, geo.padded), strict=True):
                c[name].value = a
        else:  # otherwise the window follows the query
            c["window"].value = locate_token(self._query(), geo, "query")[0]

    def _query(self) -> tuple[int, int, int]:
        return self.controls["t"].value, self.controls["h"].value, self.controls["w"].value

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        geo = self._geometry()
        dhw, window, shift = geo.padded, geo.window, geo.shift
        query = self._query()
        k, i, rolled = locate_token(query, geo, "query")
        positions = window_positions(k, geo.padded, geo.window)  # (N, 3) rolled
        keys = [rolled_to_original(p, shift, dhw) for p in positions.tolist()]  # original (t, h, w)
        correct = allowed_pairs(None, geo)  # (nW, N, N)
        regions = window_region_ids(geo.padded, geo.window, geo.shift)  # (nW, N)
        results: dict[str, Any] = {
            "grid": geo.dhw,
            "padded": dhw,
            "window_size": window,
            "shift_size": shift,
            "query": query,
            "query_rolled": rolled,
            "window_index": k,
            "token_index": i,
            "query_region": int(regions[k, i]),
            "allowed_count": int(correct[k, i].sum()),
            "allowed_keys": [keys[j] for j in range(len(keys)) if correct[k, i, j]],
            "mismatches": None,
            "first_mismatch": None,
            "query_mismatches": [],
            "diff_error": None,
            "mask_values": None,
            "masked_pairs_window": int((~correct[k]).sum()),
            "masked_pairs_total": int((~correct).sum()),
        }
        user = None
        if self.user_mask is not None:
            user, results["diff_error"] = self._user_allowed(geo)
            results["mask_values"] = self._mask_values
        if user is not None:
            first = mask_mismatches(user, dhw, window, shift, limit=1)  # named in words; the rest counted
            results["mismatches"] = int((user != correct).sum())
            results["first_mismatch"] = first[0] if first else None
            results["query_mismatches"] = [
                keys[j] for j in (user[k, i] != correct[k, i]).nonzero()[:, 0].tolist()
            ]
        if values["diff"] and user is not None:
            shown = user
        elif not values["mask_on"]:  # "isn't the mask redundant?": show the pairs it removes
            shown = torch.ones_like(correct)
        else:
            shown = None
        fig = viz.plot_attend_to(dhw, window, shift, query, mask=shown)
        if shown is not None:
            self.mask_figure = viz.plot_mask_diff(dhw, window, shift, shown, window_index=k, query_index=i)
        else:
            self.mask_figure = viz.plot_mask_matrix(
                dhw, window, shift, k, sort_by_region=values["sort"], query_index=i
            )
        self.mask_image.value = png_bytes(self.mask_figure)
        return fig, results

    def _user_allowed(self, geo) -> tuple[torch.Tensor | None, str | None]:
        """The user mask as booleans for this grid, or why it does not fit (a tensor for another grid).

        Errors raised *by a callable* mask are the learner's bug: they propagate (strict mode)
        and are shown in the readout.
        """
        mask = self.user_mask
        if callable(mask):
            mask = mask(geo.padded, geo.window, geo.shift)
        self._mask_values = mask_value_problem(mask) if isinstance(mask, torch.Tensor) else None
        try:
            return resolve_mask(mask, geo.padded, geo.window, geo.shift), None
        except (TypeError, ValueError) as error:
            if self.user_mask is mask and isinstance(error, ValueError):
                return None, str(error)  # a fixed tensor made for another grid: say so, do not fail
            raise

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        lines = [
            f"grid {state['padded']} (padded), window {state['window_size']}, shift {state['shift_size']}",
            f"query {state['query']} -> rolled {state['query_rolled']}: window {state['window_index']}, "
            f"token {state['token_index']}, region {state['query_region']}; "
            f"may attend to {state['allowed_count']} keys",
            f"the mask removes {state['masked_pairs_window']} of {math.prod(state['window_size']) ** 2} "
            f"pairs of this window ({state['masked_pairs_total']} in all windows)",
        ]
        if state["mask_values"] and not state["diff_error"]:
            lines.append(f"your mask's values: {state['mask_values']}")
        if state["diff_error"]:
            lines.append(f"your mask cannot be compared here: {state['diff_error']}")
        elif state["mismatches"] is not None:
            if state["mismatches"] == 0:
                lines.append("your mask: correct (0 wrong entries)")
            else:
                first = state["first_mismatch"].describe()
                lines.append(f"your mask: {state['mismatches']} wrong entries; first: {first}")
                lines.append(f"wrong keys for this query: {len(state['query_mismatches'])}")
        return lines
