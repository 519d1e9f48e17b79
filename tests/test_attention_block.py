"""Window attention and the block: fused = explicit, shifted = naive padded oracle, gradients."""

import pytest
import torch

from vswin_edu.attention import WindowAttention3D
from vswin_edu.block import VideoSwinBlock
from vswin_edu.reference import global_attention, naive_shifted_window_attention
from vswin_edu.shift import shifted_window_mask
from vswin_edu.windows import window_partition


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("with_mask", [False, True])
def test_fused_path_equals_explicit_path(with_mask):
    attn = WindowAttention3D(dim=24, window_size=(2, 4, 4), num_heads=3).eval()
    x = window_partition(torch.randn(2, 4, 8, 8, 24), (2, 4, 4))  # (B*nW, N, C) = (16, 32, 24)
    mask = shifted_window_mask((4, 8, 8), (2, 4, 4), (1, 2, 2)) if with_mask else None
    explicit, weights = attn(x, mask=mask, return_attn=True)
    fused = attn(x, mask=mask)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
    assert weights.shape == (16, 3, 32, 32)
    torch.testing.assert_close(weights.sum(-1), torch.ones(16, 3, 32))
    if with_mask:  # masked pairs get (numerically) zero weight
        w = weights.view(2, 8, 3, 32, 32)  # (B, nW, nH, N, N)
        masked = (mask < 0)[None, :, None].expand_as(w)
        assert masked.any() and w[masked].max() < 1e-30


@pytest.mark.parametrize(
    "dhw, window, shift",
    [((4, 8, 8), (2, 4, 4), (1, 2, 2)), ((6, 6, 9), (3, 3, 3), (1, 1, 1)), ((4, 8, 8), (2, 4, 4), (0, 2, 1))],
)
def test_shifted_window_attention_equals_naive_padded_oracle(dhw, window, shift):
    block = VideoSwinBlock(16, 2, window_size=window, shift_size=shift).eval()
    x = torch.randn(2, *dhw, 16)
    with torch.no_grad():
        ours = block.attention(x)
        naive = naive_shifted_window_attention(x, block.attn, window, shift)
        unshifted = naive_shifted_window_attention(x, block.attn, window, (0, 0, 0))
    torch.testing.assert_close(ours, naive, rtol=1e-5, atol=1e-5)
    assert (ours - unshifted).abs().max() > 1e-3  # the shift really changes the result


def test_window_covering_the_grid_equals_global_attention():
    attn = WindowAttention3D(dim=16, window_size=(2, 3, 3), num_heads=2).eval()
    with torch.no_grad():
        attn.relpos.relative_position_bias_table.zero_()  # global attention has no position bias
    x = torch.randn(3, 2 * 3 * 3, 16)  # three clips, each one window of all its 18 tokens
    torch.testing.assert_close(attn(x), global_attention(x, attn), rtol=1e-5, atol=1e-5)


def test_block_shapes_padding_and_clamping():
    block = VideoSwinBlock(12, 3, window_size=(8, 7, 7), shift_size=(4, 3, 3)).eval()
    for dhw in [(5, 9, 10), (2, 3, 3), (16, 7, 7)]:
        x = torch.randn(1, *dhw, 12)
        assert block(x).shape == x.shape
    out, weights = block(torch.randn(1, 4, 7, 7, 12), return_attn=True)
    assert weights.shape == (1, 3, 4 * 7 * 7, 4 * 7 * 7)  # window clamped to (4, 7, 7), one window


def test_forward_backward_gradients_reach_every_parameter():
    block = VideoSwinBlock(16, 2, window_size=(2, 4, 4), shift_size=(1, 2, 2), drop_path=0.1).train()
    x = torch.randn(2, 4, 8, 8, 16, requires_grad=True)
    block(x).square().mean().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


def test_eval_is_deterministic_and_train_uses_drop_path():
    block = VideoSwinBlock(16, 2, window_size=(2, 4, 4), drop_path=0.5)
    x = torch.randn(4, 2, 4, 4, 16)
    block.eval()
    assert torch.equal(block(x), block(x))
    block.train()
    assert not torch.equal(block(x), block(x))
