"""3D relative position index and bias: formula, layout, shrunken windows, gradients."""

import itertools

import pytest
import torch
from torchvision.models.video.swin_transformer import ShiftedWindowAttention3d

from vswin_edu.reference import brute_force_relative_bias
from vswin_edu.relpos import RelativePositionBias3D, relative_position_index, table_size, window_coords


@pytest.mark.parametrize("window", [(8, 7, 7), (2, 3, 3), (16, 7, 7), (1, 2, 5), (3, 1, 4)])
def test_index_equals_torchvision_layout(window):
    tv = ShiftedWindowAttention3d(dim=8, window_size=list(window), shift_size=[0, 0, 0], num_heads=2)
    N = window[0] * window[1] * window[2]
    torch.testing.assert_close(relative_position_index(window), tv.relative_position_index.view(N, N))


@pytest.mark.parametrize("window", [(2, 2, 2), (3, 2, 4), (8, 7, 7)])
def test_index_is_a_bijection_from_offsets(window):
    coords = window_coords(window)
    index = relative_position_index(window)
    assert index.min() >= 0 and index.max() < table_size(window)
    seen: dict[int, tuple] = {}
    for i, j in itertools.product(range(len(coords)), repeat=2):
        offset = tuple((coords[i] - coords[j]).tolist())
        k = int(index[i, j])
        assert seen.setdefault(k, offset) == offset  # one offset per row of the table
    assert len(seen) == table_size(window)  # every row is used: (2P-1)(2M-1)(2M-1)


def test_index_worked_example_and_antisymmetry():
    index = relative_position_index((2, 2, 2))
    assert index[7, 0] == 26 and index[0, 7] == 0  # docstring example
    assert torch.equal(index + index.T, torch.full_like(index, table_size((2, 2, 2)) - 1))
    assert table_size((8, 7, 7)) == 15 * 13 * 13 == 2535


@pytest.mark.parametrize("small", [(2, 3, 3), (1, 2, 3), (2, 1, 1), (1, 3, 2)])
def test_shrunken_window_bias_equals_brute_force(small):
    rpb = RelativePositionBias3D((2, 3, 3), num_heads=3)
    table = rpb.relative_position_bias_table.detach()
    assert torch.equal(rpb(small), brute_force_relative_bias(table, small, (2, 3, 3)))


def test_upstream_slicing_is_wrong_when_a_spatial_axis_shrinks():
    full, small = (2, 3, 3), (2, 2, 2)
    N = 8
    sliced = relative_position_index(full)[:N, :N]
    ours = relative_position_index(small, table_window=full)
    assert not torch.equal(sliced, ours)
    # ... and right when only the leading (temporal) axis shrinks
    N = 1 * 3 * 3
    assert torch.equal(relative_position_index(full)[:N, :N], relative_position_index((1, 3, 3), full))


def test_bias_is_gathered_every_call_and_gradients_reach_the_table():
    rpb = RelativePositionBias3D((2, 2, 2), num_heads=2)
    before = rpb().clone()
    with torch.no_grad():
        rpb.relative_position_bias_table.add_(1.0)
    assert torch.allclose(rpb(), before + 1.0)  # no stale cache
    rpb((1, 2, 2)).sum().backward()
    grad = rpb.relative_position_bias_table.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert rpb().shape == (2, 8, 8)
