"""Window partition/reverse, cyclic shift and the shifted-window mask against brute-force oracles."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vswin_edu.reference import brute_force_mask
from vswin_edu.shift import (
    MASKED_LOGIT,
    cyclic_shift,
    region_ids,
    reverse_cyclic_shift,
    shifted_window_allowed,
    shifted_window_mask,
)
from vswin_edu.windows import effective_window, num_windows, pad_to_window, window_partition, window_reverse


@st.composite
def grids(draw):
    """A padded grid, a window dividing it and a shift smaller than the window (0 allowed)."""
    window = tuple(draw(st.integers(1, 4)) for _ in range(3))
    dhw = tuple(w * draw(st.integers(1, 3)) for w in window)
    shift = tuple(draw(st.integers(0, w - 1)) for w in window)
    return dhw, window, shift


@settings(max_examples=60, deadline=None)
@given(grids())
def test_mask_equals_brute_force_oracle(case):
    dhw, window, shift = case
    mask = shifted_window_mask(dhw, window, shift)
    assert mask.shape == (num_windows(dhw, window), *(2 * [window[0] * window[1] * window[2]]))
    torch.testing.assert_close(mask, brute_force_mask(dhw, window, shift), rtol=0, atol=0)


@settings(max_examples=30, deadline=None)
@given(grids())
def test_mask_is_symmetric_and_allows_the_diagonal(case):
    allowed = shifted_window_allowed(*case)
    assert torch.equal(allowed, allowed.transpose(1, 2))
    assert allowed.diagonal(dim1=1, dim2=2).all()


def test_mask_values_and_known_counts():
    # 16x56x56 tokens, 8x7x7 windows, shift (4,3,3): 128 windows of 392 tokens, as in Swin-T stage 1
    mask = shifted_window_mask((16, 56, 56), (8, 7, 7), (4, 3, 3))
    assert mask.shape == (128, 392, 392)
    assert set(mask.unique().tolist()) == {0.0, MASKED_LOGIT}
    # only windows on the last slab of some axis contain wrapped pieces
    unmasked_windows = (mask == 0).flatten(1).all(dim=1).sum().item()
    assert unmasked_windows == 1 * 7 * 7
    assert region_ids((16, 56, 56), (8, 7, 7), (4, 3, 3)).unique().numel() == 27


def test_shift_zero_axis_has_a_single_region():
    ids = region_ids((4, 8, 8), (2, 4, 4), (0, 2, 2))
    assert ids.unique().numel() == 9
    assert torch.equal(ids[0], ids[3])


@settings(max_examples=30, deadline=None)
@given(grids(), st.integers(1, 2), st.integers(1, 5))
def test_partition_reverse_round_trip(case, B, C):
    dhw, window, _ = case
    x = torch.randn(B, *dhw, C)
    windows = window_partition(x, window)
    assert windows.shape == (B * num_windows(dhw, window), window[0] * window[1] * window[2], C)
    assert torch.equal(window_reverse(windows, window, B, *dhw), x)


def test_partition_order_is_raster():
    x = torch.arange(2 * 2 * 4).reshape(1, 2, 2, 4, 1).float()  # (B, D, H, W, C), value = raster index
    windows = window_partition(x, (1, 2, 2))[..., 0]
    assert windows.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]


@settings(max_examples=30, deadline=None)
@given(grids())
def test_cyclic_shift_round_trip_and_direction(case):
    dhw, _, shift = case
    x = torch.randn(1, *dhw, 2)
    rolled = cyclic_shift(x, shift)
    assert torch.equal(reverse_cyclic_shift(rolled, shift), x)
    # the token that was at (sd, sh, sw) now sits at the origin
    assert torch.equal(rolled[0, 0, 0, 0], x[0, shift[0] % dhw[0], shift[1] % dhw[1], shift[2] % dhw[2]])


def test_padding_reaches_window_multiples():
    x = torch.randn(1, 5, 9, 13, 3)
    padded = pad_to_window(x, (2, 4, 4))
    assert padded.shape == (1, 6, 12, 16, 3)
    assert torch.equal(padded[:, :5, :9, :13], x)
    assert padded[:, 5:].abs().sum() == 0


def test_effective_window_clamps_and_drops_shift():
    assert effective_window((16, 7, 7), (8, 7, 7), (4, 3, 3)) == ((8, 7, 7), (4, 0, 0))
    assert effective_window((4, 3, 20), (8, 7, 7), (4, 3, 3)) == ((4, 3, 7), (0, 0, 3))
    assert effective_window((16, 56, 56), (8, 7, 7), (4, 3, 3)) == ((8, 7, 7), (4, 3, 3))
