"""Chapter 3 exercises: 3D window partition and window numbering (paper Sec. 3.2).

3.1  window partition by hand with ``view``/``permute`` (checked against
     :func:`vswin_edu.windows.window_partition`)
3.2  which window a token ``(t, h, w)`` falls in, and where inside it, on a padded grid
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..windows import num_windows, pad_to_window, window_partition
from ._core import Mismatch, exercise


def _token(value: float, dhw: Sequence[int]) -> str:
    """Which token ``(d, h, w)`` of an ``arange``-valued grid a value came from."""
    if value != int(value) or not 0 <= value < torch.Size(dhw).numel():
        return f"the value {value:g}, which is no token of the input"
    d, h, w = (int(i) for i in torch.unravel_index(torch.tensor(int(value)), tuple(dhw)))
    return f"token {(d, h, w)}"


@exercise(
    "3.1",
    "window partition by hand: (B, D, H, W, C) -> (B*nW, P*M*M, C)",
    hints=[
        "Split every axis into (number of windows, size inside the window) with one view: "
        "(B, D/P, P, H/M, M, W/M, M, C). Then permute so that the three window-grid axes follow B "
        "and the three within-window axes come after them.",
        "x.view(B, D // P, P, H // M, M, W // M, M, C).permute(0, 1, 3, 5, 2, 4, 6, 7)"
        ".reshape(-1, P * M * M, C). Windows and the tokens inside each window are both in raster "
        "order (d slowest, w fastest).",
    ],
    solution=(
        "def my_window_partition(x, window_size):\n"
        "    B, D, H, W, C = x.shape\n"
        "    P, Mh, Mw = window_size\n"
        "    x = x.view(B, D // P, P, H // Mh, Mh, W // Mw, Mw, C)  # (B, nd, P, nh, Mh, nw, Mw, C)\n"
        "    x = x.permute(0, 1, 3, 5, 2, 4, 6, 7)                # (B, nd, nh, nw, P, Mh, Mw, C)\n"
        "    return x.reshape(-1, P * Mh * Mw, C)                 # (B*nW, N, C)"
    ),
)
def check_window_partition(my_window_partition: Callable[[torch.Tensor, tuple], torch.Tensor]) -> str:
    B, D, H, W, window = 1, 4, 4, 6, (2, 2, 3)  # 2 x 2 x 2 windows of 12 tokens
    x = torch.arange(B * D * H * W, dtype=torch.float32).view(B, D, H, W, 1)  # (B, D, H, W, 1)
    expected = window_partition(x, window)  # (8, 12, 1)
    got = my_window_partition(x.clone(), window)
    tested = (
        f"tested on a (B, D, H, W, C) = {(B, D, H, W, 1)} grid whose tokens hold their own index, "
        f"window {window}"
    )
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"{tested}.\nExpected a torch.Tensor, got {type(got).__name__}.")
    if tuple(got.shape) != tuple(expected.shape):
        lines = [
            f"{tested}.",
            f"Expected shape (B*nW, N, C) = {tuple(expected.shape)}, got {tuple(got.shape)}.",
        ]
        if tuple(got.shape) == (B, expected.shape[0], expected.shape[1], 1):
            lines.append("Likely cause: the batch and window axes are not merged; reshape to (-1, N, C).")
        raise Mismatch("\n".join(lines))
    wrong = got != expected
    if not wrong.any():
        return (
            f"matches vswin_edu.windows.window_partition: {expected.shape[0]} windows of {expected.shape[1]}."
        )
    win, n = (int(i) for i in wrong.nonzero()[0][:2])
    lines = [
        tested + ".",
        f"First wrong entry: window {win}, position {n}: expected "
        f"{_token(expected[win, n, 0].item(), (D, H, W))}, got {_token(got[win, n, 0].item(), (D, H, W))}.",
        f"Window 0 should hold the tokens {sorted(int(v) for v in expected[0, :, 0])} (by flat index); "
        f"yours holds {sorted(int(v) for v in got[0, :, 0])}.",
    ]
    if torch.equal(got, x.reshape(got.shape)):
        lines.append(
            "Likely cause: a plain view/reshape. It cuts the grid into runs of consecutive tokens in "
            "memory (pieces of rows), not into P x M x M boxes: split the axes, permute, then flatten."
        )
    elif all(set(got[i, :, 0].tolist()) == set(expected[i, :, 0].tolist()) for i in range(got.shape[0])):
        lines.append(
            "Each window holds the right tokens but in the wrong order: inside a window the tokens "
            "must be in raster order (d, h, w) — check the order of the last three permuted axes."
        )
    elif sorted(map(tuple, got[:, :, 0].sort(1).values.tolist())) == sorted(
        map(tuple, expected[:, :, 0].sort(1).values.tolist())
    ):
        lines.append(
            "Your windows are right but numbered in the wrong order: windows go in raster order over "
            "the window grid (nd, nh, nw) — check the order of the first three permuted axes."
        )
    raise Mismatch("\n".join(lines))


def _window_index_table(
    dhw: Sequence[int], window: Sequence[int]
) -> dict[tuple[int, int, int], tuple[int, int]]:
    """``(t, h, w) -> (window id, position in window)`` read off the library's partition."""
    D, H, W = dhw
    ids = torch.arange(1, D * H * W + 1, dtype=torch.float32).view(1, D, H, W, 1)  # 0 marks padding
    windows = window_partition(pad_to_window(ids, window), window)[..., 0]  # (nW, N)
    table = {}
    for win, n in windows.nonzero().tolist():
        flat = int(windows[win, n]) - 1
        t, h, w = (int(i) for i in torch.unravel_index(torch.tensor(flat), (D, H, W)))
        table[(t, h, w)] = (win, n)
    return table


@exercise(
    "3.2",
    "window id and position inside the window of token (t, h, w)",
    hints=[
        "The token's window along each axis is t // P, h // M, w // M, and its position inside the "
        "window is t % P, h % M, w % M. Windows are numbered in raster order over the window grid, "
        "tokens in raster order inside the window.",
        "The window grid is padded up to whole windows: it has ceil(D/P) x ceil(H/M) x ceil(W/M) "
        "windows, so the window id is (t // P) * nh * nw + (h // M) * nw + (w // M) with nh = -(-H // M), "
        "nw = -(-W // M); the position is (t % P) * M * M + (h % M) * M + (w % M).",
    ],
    solution=(
        "def window_index(t, h, w, dhw, window_size):\n"
        "    D, H, W = dhw\n"
        "    P, Mh, Mw = window_size\n"
        "    nh, nw = -(-H // Mh), -(-W // Mw)  # windows per axis, padding included\n"
        "    win = (t // P) * nh * nw + (h // Mh) * nw + (w // Mw)\n"
        "    pos = (t % P) * Mh * Mw + (h % Mh) * Mw + (w % Mw)\n"
        "    return win, pos"
    ),
)
def check_window_index(window_index: Callable[[int, int, int, tuple, tuple], tuple[int, int]]) -> str:
    cases = [((2, 4, 4), (2, 2, 2)), ((3, 5, 7), (2, 2, 3)), ((4, 6, 6), (2, 3, 3))]  # smallest first
    for dhw, window in cases:
        for (t, h, w), expected in sorted(_window_index_table(dhw, window).items()):
            raw = window_index(t, h, w, dhw, window)
            try:
                got = tuple(int(v) for v in raw)
            except TypeError as err:
                raise Mismatch(
                    f"window_index({t}, {h}, {w}, dhw={dhw}, window_size={window}): expected a tuple "
                    f"(window id, position), got {raw!r}."
                ) from err
            if got == expected:
                continue
            n_win = num_windows(dhw, window)
            lines = [
                f"Token (t, h, w) = {(t, h, w)} of a {dhw} grid with window {window} "
                f"({n_win} windows after padding): expected (window, position) = {expected}, got {got}."
            ]
            P, Mh, Mw = window
            floor_nw = (dhw[1] // Mh, dhw[2] // Mw)
            floor_win = (t // P) * floor_nw[0] * floor_nw[1] + (h // Mh) * floor_nw[1] + (w // Mw)
            if got[0] == expected[0]:
                lines.append("The window is right; the position inside it is not (raster order t, h, w).")
            elif got[0] == floor_win:
                lines.append(
                    "Likely cause: the number of windows per axis was rounded down. The grid is padded up "
                    f"to whole windows, so H and W hold ceil(H/M) = {-(-dhw[1] // Mh)} and "
                    f"ceil(W/M) = {-(-dhw[2] // Mw)} windows."
                )
            raise Mismatch("\n".join(lines))
    return "every token of three grids (two of them padded) lands in the right window and position."
