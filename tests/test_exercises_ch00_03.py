"""Checkers of chapters 0-3: the intended diagnosis for each known-wrong answer.

(That every reference solution passes and every stub is "not attempted": test_exercises_core.py.)"""

from __future__ import annotations

import math

import pytest
import torch

from vswin_edu.exercises import check

# --- 0.1 frames -> clip ------------------------------------------------------------------------------


def test_0_1_time_and_channels_swapped(diagnosis):
    text = diagnosis("0.1", lambda f: f.permute(0, 3, 1, 2).unsqueeze(0).float() / 255)
    assert "Expected shape (B, C, T, H, W) = (1, 3, 4, 5, 6), got (1, 4, 3, 5, 6)" in text
    assert "(B, T, C, H, W) — time and channels swapped" in text


def test_0_1_reshape_instead_of_permute(diagnosis):
    T, H, W = 4, 5, 6
    text = diagnosis("0.1", lambda f: f.reshape(1, 3, T, H, W).float() / 255)
    assert "First wrong value at (b, c, t, h, w) = (0, 0, 0, 0, 1)" in text
    assert "view/reshape keeps the memory order" in text


def test_0_1_dtype_and_scale(diagnosis):
    assert "got dtype torch.uint8" in diagnosis("0.1", lambda f: f.permute(3, 0, 1, 2).unsqueeze(0))
    text = diagnosis("0.1", lambda f: f.permute(3, 0, 1, 2).unsqueeze(0).float())
    assert "not divided by 255" in text


def test_0_1_missing_batch_axis(diagnosis):
    assert "no batch axis" in diagnosis("0.1", lambda f: f.permute(3, 0, 1, 2).float() / 255)


# --- 0.2 clip sampling -------------------------------------------------------------------------------


def test_0_2_range_stops_too_early(diagnosis):
    text = diagnosis("0.2", lambda start, n, stride: list(range(start, start + n, stride)))
    assert "sample_indices(start=0, num_frames=4, stride=2): expected [0, 2, 4, 6], got [0, 2]" in text
    assert "reach from start to start + 6" in text


def test_0_2_stride_ignored_and_start_ignored(diagnosis):
    assert "stride is ignored" in diagnosis("0.2", lambda start, n, stride: list(range(start, start + n)))
    assert "does not begin at `start`" in diagnosis(
        "0.2", lambda start, n, stride: [i * stride for i in range(n)]
    )


def test_0_2_accepts_a_tensor():
    assert check("0.2", lambda start, n, stride: torch.arange(n) * stride + start, verbose=False).ok


# --- 1.1 patch partition by hand ---------------------------------------------------------------------


def _partition_with_order(video, order):
    B, C, T, H, W = video.shape
    x = video.view(B, C, T // 2, 2, H // 4, 4, W // 4, 4)  # (B, C, D, 2, Hp, 4, Wp, 4)
    return x.permute(*order).reshape(B, T // 2, H // 4, W // 4, C * 32)


def test_1_1_channels_last_patch_vectors(diagnosis):
    text = diagnosis("1.1", lambda v: _partition_with_order(v, (0, 2, 4, 6, 3, 5, 7, 1)))
    assert "First wrong entry: token (d, h, w) = (0, 0, 0), feature 1" in text
    assert "flattened as (t, h, w, c)" in text


def test_1_1_plain_reshape(diagnosis):
    text = diagnosis("1.1", lambda v: v.reshape(1, 2, 2, 3, 96))
    assert "a plain view/reshape of the video" in text


def test_1_1_wrong_permute_order_names_first_wrong_pixel(diagnosis):
    text = diagnosis("1.1", lambda v: _partition_with_order(v, (0, 2, 4, 6, 1, 5, 3, 7)))  # h and t swapped
    assert (
        "feature 4: expected pixel (c, t, h, w) = (0, 0, 1, 0), got pixel (c, t, h, w) = (0, 1, 0, 0)" in text
    )
    assert "the permute order is not" in text


def test_1_1_wrong_shape(diagnosis):
    assert "got (1, 2, 2, 3, 3, 32)" in diagnosis(
        "1.1", lambda v: _partition_with_order(v, range(8)).view(1, 2, 2, 3, 3, 32)
    )


# --- 1.2 token grid ----------------------------------------------------------------------------------


def test_1_2_floor_division(diagnosis):
    text = diagnosis("1.2", lambda T, H, W: (T // 2, H // 4, W // 4))
    assert "token_grid(T=3, H=8, W=8): expected (2, 2, 2), got (1, 2, 2)" in text
    assert "floor division" in text


def test_1_2_patch_sizes_on_wrong_axes(diagnosis):
    text = diagnosis("1.2", lambda T, H, W: (math.ceil(T / 4), math.ceil(H / 4), math.ceil(W / 2)))
    assert "patch sizes are on the wrong axes" in text


# --- 2.1 window-attention MACs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrong", "cause"),
    [
        (lambda L, C, N: 2 * L * N * C, "projections add 4 L C^2"),
        (lambda L, C, N: 4 * L * C**2 + 2 * L * L * C, "this is global attention"),
        (lambda L, C, N: 4 * L * C**2 + L * N * C, "only one of the two attention products"),
        (lambda L, C, N: 3 * L * C**2 + 2 * L * N * C, "output projection"),
        (lambda L, C, N: 4 * L * C**2 + 2 * L * N * N * C, "N^2 per token"),
    ],
)
def test_2_1_known_mistakes(wrong, cause, diagnosis):
    text = diagnosis("2.1", wrong)
    assert "my_wmsa_macs(L=8, C=2, N=4): expected 4LC^2 + 2LNC = 256" in text
    assert cause in text


def test_2_1_success_quotes_swin_t_stage_1(solution):
    report = check("2.1", solution("2.1"), verbose=False)
    assert "W-MSA 5.63 GMACs vs MSA 485.2 GMACs" in str(report)


# --- 2.2 largest window ------------------------------------------------------------------------------


def test_2_2_projection_term_dropped(diagnosis):
    text = diagnosis("2.2", lambda L, C, f: int(f * L))
    assert "largest_window_tokens(L=1,000, C=8, fraction=0.5): expected 492, got 500" in text
    assert "the projection term 4LC^2 was dropped" in text


def test_2_2_rounding_up(diagnosis, solution):
    sol = solution("2.2")
    text = diagnosis("2.2", lambda L, C, f: sol(L, C, f) + 1)
    assert "With N=493, W-MSA costs" in text and "round down" in text


def test_2_2_no_window_fits(diagnosis, solution):
    sol = solution("2.2")
    text = diagnosis("2.2", lambda L, C, f: max(1, sol(L, C, f)))
    assert "fraction=0.5): expected 0, got 1" in text and "the projections dominate" in text


# --- 3.1 window partition by hand --------------------------------------------------------------------


def _window_partition_with_order(x, window, order):
    B, D, H, W, C = x.shape
    P, Mh, Mw = window
    x = x.view(B, D // P, P, H // Mh, Mh, W // Mw, Mw, C)  # (B, nd, P, nh, Mh, nw, Mw, C)
    return x.permute(*order).reshape(-1, P * Mh * Mw, C)


def test_3_1_plain_reshape(diagnosis):
    text = diagnosis("3.1", lambda x, w: x.reshape(-1, math.prod(w), x.shape[-1]))
    assert "window 0, position 3: expected token (0, 1, 0), got token (0, 0, 3)" in text
    assert "a plain view/reshape" in text


def test_3_1_tokens_inside_window_in_wrong_order(diagnosis):
    text = diagnosis("3.1", lambda x, w: _window_partition_with_order(x, w, (0, 1, 3, 5, 6, 4, 2, 7)))
    assert "in the wrong order: inside a window" in text


def test_3_1_windows_numbered_in_wrong_order(diagnosis):
    text = diagnosis("3.1", lambda x, w: _window_partition_with_order(x, w, (0, 5, 3, 1, 2, 4, 6, 7)))
    assert "numbered in the wrong order" in text


def test_3_1_batch_not_merged(diagnosis):
    text = diagnosis(
        "3.1", lambda x, w: _window_partition_with_order(x, w, (0, 1, 3, 5, 2, 4, 6, 7)).view(1, 8, 12, 1)
    )
    assert "batch and window axes are not merged" in text


# --- 3.2 window index of a token ---------------------------------------------------------------------


def test_3_2_windows_per_axis_rounded_down(diagnosis):
    def floor_count(t, h, w, dhw, window):
        D, H, W = dhw
        P, Mh, Mw = window
        nh, nw = H // Mh, W // Mw  # the mistake: ignores the padded windows
        return (t // P) * nh * nw + (h // Mh) * nw + (w // Mw), (t % P) * Mh * Mw + (h % Mh) * Mw + (w % Mw)

    text = diagnosis("3.2", floor_count)
    assert "Token (t, h, w) = (0, 2, 0) of a (3, 5, 7) grid with window (2, 2, 3) (18 windows" in text
    assert "rounded down" in text


def test_3_2_position_wrong(diagnosis, solution):
    def column_major_position(t, h, w, dhw, window):
        win, _ = solution("3.2")(t, h, w, dhw, window)
        P, Mh, Mw = window
        return win, (w % Mw) * Mh * P + (h % Mh) * P + (t % P)

    assert "The window is right; the position inside it is not" in diagnosis("3.2", column_major_position)
