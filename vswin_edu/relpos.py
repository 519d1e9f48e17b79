"""3D relative position bias (paper Sec. 3.2, Eq. 1; chapter 6).

Attention inside a window adds a learned bias that depends only on the *offset* between the query
and the key token: ``Attention(Q, K, V) = SoftMax(QK^T / sqrt(d) + B) V``.  Offsets along the
temporal axis lie in ``[-(P-1), P-1]`` and along each spatial axis in ``[-(M-1), M-1]``, so a
table of ``(2P-1)(2M-1)(2M-1)`` rows (one column per head) holds every bias; ``B`` is gathered
from it with a precomputed index.

The index is a mixed-radix number: shift each offset to be non-negative, then
``index = rd * (2M_h-1)(2M_w-1) + rh * (2M_w-1) + rw``.  Worked 2x2x2 example (``P = M = 2``,
table ``3*3*3 = 27``): the query ``(1, 1, 1)`` and key ``(0, 0, 0)`` have offset ``(1, 1, 1)``,
shifted ``(2, 2, 2)``, index ``2*9 + 2*3 + 2 = 26``; the reverse pair has index ``0``.

**Shrunken windows.**  When a stage's grid is smaller than the window (e.g. 7x7 spatial tokens
with an 8x7x7 window and 4 frames), the window shrinks (:func:`vswin_edu.windows.effective_window`).
torchvision and the official code then slice the *full* index, ``index[:N, :N]``.  That is right
only if just the leading (temporal) axis shrinks: the first ``N`` tokens of the full window are
then exactly the tokens of the small window.  If H or W shrink, the first ``N`` tokens of the full
window are *not* the small window's tokens, and pairs get the bias of the wrong offset.  Here the
index of a shrunken window is built from the small window's own coordinates with the full table's
offsets and strides (:func:`relative_position_index` with ``table_window``), which is what the
bias means.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._checks import triple
from .windows import window_coords

__all__ = ["RelativePositionBias3D", "relative_position_index", "table_size", "window_coords"]


def table_size(window_size: Sequence[int]) -> int:
    """Rows of the bias table, ``(2P-1)(2M_h-1)(2M_w-1)``: 15*13*13 = 2535 for 8x7x7."""
    wd, wh, ww = triple(window_size, "window_size")
    return (2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1)


def relative_position_index(
    window_size: Sequence[int], table_window: Sequence[int] | None = None
) -> torch.Tensor:
    """Index into the bias table for every (query, key) pair of a window, ``LongTensor (N, N)``.

    Args:
        window_size: the window whose tokens are indexed, ``(P, M, M)``.
        table_window: the window the table was built for (default: ``window_size``).  Pass the
            full window when ``window_size`` is a shrunken (effective) window.

    Returns:
        ``index[i, j]`` in ``[0, (2P-1)(2M-1)(2M-1))`` for query ``i`` and key ``j``; identical to
        torchvision's and the official ``relative_position_index`` when the windows agree.
    """
    window = triple(window_size, "window_size")
    table_win = window if table_window is None else triple(table_window, "table_window")
    if any(w > t for w, t in zip(window, table_win, strict=True)):
        raise ValueError(f"window_size {window} must fit inside table_window {table_win} on every axis")
    coords = window_coords(window)  # (N, 3)
    rel = coords[:, None, :] - coords[None, :, :]  # (N, N, 3) offset query - key
    rel = rel + torch.tensor([t - 1 for t in table_win])  # shift offsets to be >= 0
    _, th, tw = table_win
    strides = torch.tensor([(2 * th - 1) * (2 * tw - 1), 2 * tw - 1, 1])
    return (rel * strides).sum(-1)  # (N, N)


class RelativePositionBias3D(nn.Module):
    """The learned table ``((2P-1)(2M-1)(2M-1), nH)`` and the gather that turns it into ``B``.

    Calling the module returns the bias ``(nH, N, N)`` for the full window, or for a shrunken
    *effective* window when one is passed — indexed by that window's own coordinates (see the
    module docstring for the upstream ``[:N, :N]`` bug this avoids).  The gather runs on every
    call, so the bias always reflects the current (trained) table.
    """

    def __init__(self, window_size: Sequence[int], num_heads: int) -> None:
        super().__init__()
        self.window_size = triple(window_size, "window_size")
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(f"num_heads must be a positive int, got {num_heads!r}")
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(table_size(self.window_size), num_heads)
        )  # ((2P-1)(2M-1)(2M-1), nH)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # a buffer, so that it follows .to(device); not saved (it is a function of the window)
        self.register_buffer(
            "relative_position_index", relative_position_index(self.window_size), persistent=False
        )

    def index(self, window_size: Sequence[int] | None = None) -> torch.Tensor:
        """The ``(N, N)`` index for ``window_size`` (default: the full window) into this table."""
        window = self.window_size if window_size is None else triple(window_size, "window_size")
        if window == self.window_size:
            return self.relative_position_index
        index = relative_position_index(window, table_window=self.window_size)  # a shrunken window
        return index.to(self.relative_position_index.device)

    def forward(self, window_size: Sequence[int] | None = None) -> torch.Tensor:
        """Bias ``B`` of shape ``(nH, N, N)`` for the (effective) window."""
        index = self.index(window_size)  # (N, N)
        bias = self.relative_position_bias_table[index]  # (N, N, nH): one table row per pair
        return bias.permute(2, 0, 1)  # (nH, N, N)

    def extra_repr(self) -> str:
        rows = table_size(self.window_size)
        return f"window_size={self.window_size}, num_heads={self.num_heads}, table_rows={rows}"
