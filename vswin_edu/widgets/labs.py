"""Labs for chapters 5-7: the relative-index explorer, the masked-softmax lab, attention weights.

``RelPosExplorer`` (chapter 6): window ``P x M x M``, a query and a key token -> their offset ->
the mixed-radix index -> the lit table row.  ``MaskedSoftmaxLab`` (chapter 5): logit scale, mask
value (-100 / -1e4 / -inf), dtype and a fully masked row -> what the softmax really gives.
``AttentionExplorer`` (chapter 7): a tiny seeded :class:`~vswin_edu.block.VideoSwinBlock`; window,
head and query -> the attention weights (``return_attn=True``), shift on or off.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from .. import viz
from ..block import VideoSwinBlock
from ..relpos import relative_position_index, table_size
from ..shift import shifted_window_allowed
from ._base import VizWidget, dropdown, int_slider, set_range, toggle

__all__ = ["RelPosExplorer", "MaskedSoftmaxLab", "AttentionExplorer"]


class RelPosExplorer(VizWidget):
    """Query + key -> offset ``(dt, dh, dw)`` -> shifted offset -> index -> table row (chapter 6).

    ``state`` holds ``offset``, ``shifted`` (offset + ``(P-1, M-1, M-1)``), ``strides``
    (``((2M-1)^2, 2M-1, 1)``), ``index`` and ``table_rows``.
    """

    title = "Relative position index: query and key -> offset -> table row"

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "P": int_slider("P (window frames)", 2, 1, 4),
            "M": int_slider("M (window side)", 3, 1, 7),
            "qt": int_slider("query t", 1, 0, 1),
            "qh": int_slider("query h", 1, 0, 2),
            "qw": int_slider("query w", 1, 0, 2),
            "kt": int_slider("key t", 0, 0, 1),
            "kh": int_slider("key h", 0, 0, 2),
            "kw": int_slider("key w", 0, 0, 2),
        }

    def sync(self) -> None:
        P, M = self.controls["P"].value, self.controls["M"].value
        for name in ("qt", "kt"):
            set_range(self.controls[name], P - 1)
        for name in ("qh", "qw", "kh", "kw"):
            set_range(self.controls[name], M - 1)

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        P, M = values["P"], values["M"]
        window = (P, M, M)
        query = (values["qt"], values["qh"], values["qw"])
        key = (values["kt"], values["kh"], values["kw"])
        offset = tuple(q - k for q, k in zip(query, key, strict=True))
        shifted = (offset[0] + P - 1, offset[1] + M - 1, offset[2] + M - 1)
        strides = ((2 * M - 1) ** 2, 2 * M - 1, 1)
        i = (query[0] * M + query[1]) * M + query[2]
        j = (key[0] * M + key[1]) * M + key[2]
        index = int(relative_position_index(window)[i, j])
        fig = viz.plot_relative_index(window, query=query, key=key)
        return fig, {
            "offset": offset,
            "shifted": shifted,
            "strides": strides,
            "index": index,
            "table_rows": table_size(window),
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        (rd, rh, rw), (sd, sh, _) = state["shifted"], state["strides"]
        return [
            f"offset query - key = {state['offset']}; + (P-1, M-1, M-1) = {state['shifted']}",
            f"index = {rd}·{sd} + {rh}·{sh} + {rw} = {state['index']} (table of {state['table_rows']} rows)",
        ]


_MASK_VALUES = [("-100 (official)", -100.0), ("-1e4", -1e4), ("-inf", float("-inf"))]
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class MaskedSoftmaxLab(VizWidget):
    """One query over 8 keys, keys 4-7 masked (or all of them): does the mask really remove them?

    ``state`` holds ``weights`` (list), ``masked_mass`` (weight on masked keys), ``has_nan``,
    ``overflow`` (logits not finite in the dtype) and ``max_error`` against the exact softmax over
    the allowed keys (``None`` for a fully masked row, which has no right answer).
    """

    title = "Masked-softmax lab: logit scale, mask value and dtype"

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "scale": widgets.FloatLogSlider(
                value=10.0,
                base=10,
                min=-1,
                max=5,
                step=0.25,
                description="logit scale",
                continuous_update=False,
                style={"description_width": "initial"},
            ),
            "mask_value": dropdown("mask value", _MASK_VALUES, -100.0),
            "dtype": dropdown("dtype", list(_DTYPES), "float32"),
            "fully_masked": toggle("fully masked row", False),
        }

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        generator = torch.Generator().manual_seed(0)
        base = torch.randn(8, generator=generator, dtype=torch.float64)
        base[4:] += 1.0  # the masked keys score a little higher: a leak is visible
        logits = base / base.abs().max() * values["scale"]  # (8,) exact, in float64
        allowed = torch.zeros(8, dtype=torch.bool) if values["fully_masked"] else torch.arange(8) < 4
        dtype = _DTYPES[values["dtype"]]
        low = logits.to(dtype)
        masked = low + torch.where(allowed, 0.0, values["mask_value"]).to(dtype)
        weights = masked.float().softmax(-1) if dtype == torch.float32 else masked.softmax(-1).float()
        exact = None
        if allowed.any():
            exact = torch.where(allowed, logits, float("-inf")).softmax(-1).float()
        results = {
            "weights": [round(w, 6) for w in weights.tolist()],
            "masked_mass": float(weights[~allowed].sum()),
            "has_nan": bool(weights.isnan().any()),
            "overflow": bool((~low.isfinite()).any()),
            "max_error": None if exact is None else float((weights - exact).abs().max()),
        }
        title = f"scale {values['scale']:g}, mask {values['mask_value']:g}, {values['dtype']}"
        fig = viz.plot_masked_softmax(logits.float(), allowed, weights, exact=exact, title=title)
        return fig, results

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        lines = [f"weight on masked keys: {state['masked_mass']:.3g}"]
        if state["max_error"] is not None:
            lines.append(f"max error vs the exact masked softmax: {state['max_error']:.3g}")
        if state["overflow"]:
            lines.append(f"the logits overflow {state['dtype']} (inf): compute QK^T in fp32 or bf16")
        if state["has_nan"]:
            lines.append("NaN in the weights: a row with no finite logit (e.g. all -inf)")
        return lines


class AttentionExplorer(VizWidget):
    """Attention weights of a tiny seeded Video Swin block (chapter 7).

    A :class:`~vswin_edu.block.VideoSwinBlock` (C=16, 2 heads, window ``(2, 4, 4)``) on a seeded
    random ``4 x 8 x 8`` token grid; the weights come from ``block(x, return_attn=True)``.  With
    shift on, the same weights run with shift ``(1, 2, 2)``.  ``state`` holds ``max_weight``,
    ``argmax_key`` (``(t, h, w)`` in the window), ``masked_mass`` (weight on keys the
    shifted-window mask forbids, ~0) and ``allowed_keys``.
    """

    title = "Attention explorer: one query's weights in a Video Swin block"
    dhw = (4, 8, 8)
    window = (2, 4, 4)

    def __init__(self, *, seed: int = 0, strict: bool = True) -> None:
        torch.manual_seed(seed)
        plain = VideoSwinBlock(16, 2, window_size=self.window, shift_size=(0, 0, 0)).eval()
        shifted = VideoSwinBlock(16, 2, window_size=self.window, shift_size=(1, 2, 2)).eval()
        shifted.load_state_dict(plain.state_dict())
        x = torch.randn(1, *self.dhw, 16, generator=torch.Generator().manual_seed(seed))  # (1, D, H, W, C)
        with torch.no_grad():
            self._weights = {
                s: block(x, return_attn=True)[1] for s, block in ((False, plain), (True, shifted))
            }
        self._allowed = shifted_window_allowed(self.dhw, self.window, (1, 2, 2))  # (nW, N, N)
        super().__init__(strict=strict)

    def make_controls(self) -> dict[str, widgets.ValueWidget]:
        P, M, _ = self.window
        return {
            "shift": toggle("shifted windows (SW-MSA)", True),
            "window": int_slider("window index", 7, 0, self._allowed.shape[0] - 1),
            "head": int_slider("head", 0, 0, 1),
            "t": int_slider("query t", 0, 0, P - 1),
            "h": int_slider("query h", 0, 0, M - 1),
            "w": int_slider("query w", 0, 0, M - 1),
        }

    def render(self, values: dict[str, Any]) -> tuple[Figure, dict[str, Any]]:
        P, M, _ = self.window
        query = (values["t"], values["h"], values["w"])
        i = (query[0] * M + query[1]) * M + query[2]
        k = values["window"]
        row = self._weights[values["shift"]][k, values["head"], i]  # (N,)
        allowed = self._allowed[k, i] if values["shift"] else torch.ones_like(row, dtype=torch.bool)
        top = int(row.argmax())
        fig = viz.plot_attention_weights(row, self.window, query)
        return fig, {
            "max_weight": float(row.max()),
            "argmax_key": (top // (M * M), top // M % M, top % M),
            "masked_mass": float(row[~allowed].sum()),
            "allowed_keys": int(allowed.sum()),
        }

    def readout_lines(self, state: dict[str, Any]) -> list[str]:
        return [
            f"window {state['window']}, head {state['head']}, query {(state['t'], state['h'], state['w'])}",
            f"largest weight {state['max_weight']:.3f} on key {state['argmax_key']}; "
            f"{state['allowed_keys']} keys allowed, weight on masked keys {state['masked_mass']:.2g}",
        ]
