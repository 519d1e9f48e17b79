"""The ablation switches of VideoSwinConfig (paper Sec. 4.3, Tables 4-6; chapter 12):
``shift_size`` of the odd blocks and ``attention="factorised"``."""

import pytest
import torch

from vswin_edu.block import FactorisedVideoSwinBlock, VideoSwinBlock, shifted_window_attention
from vswin_edu.complexity import model_params
from vswin_edu.data import MovingShapes
from vswin_edu.model import build
from vswin_edu.train import TrainConfig
from vswin_edu.train.__main__ import make_parser
from vswin_edu.train.loop import build_model


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_shift_size_sets_the_odd_blocks():
    model = build("micro", shift_size=(0, 2, 2))
    assert [b.shift_size for b in model.stages[0].blocks] == [(0, 0, 0), (0, 2, 2)]
    assert [b.shift_size for b in build("micro").stages[1].blocks] == [(0, 0, 0), (2, 2, 2)]
    assert build("micro", shift_size=0).config.shift_size == (0, 0, 0)
    with pytest.raises(ValueError, match="shift_size"):
        build("micro", shift_size=(4, 2, 2))  # a shift as large as the window
    with pytest.raises(ValueError, match="shift_size"):
        build("micro", shift_size=(1, 2))


@pytest.mark.parametrize("shift, invariant", [((0, 2, 2), True), ((0, 0, 0), True), ((2, 2, 2), False)])
def test_without_temporal_shift_the_model_cannot_tell_the_halves_apart(shift, invariant):
    """Rolling a 16-frame clip by 8 frames swaps the micro model's two temporal windows (4 tokens of
    2 frames each).  Without a temporal shift no block mixes them and the pooling is symmetric, so the
    logits cannot change: 'right, then left' and 'left, then right' are indistinguishable."""
    model = build("micro", num_classes=2, shift_size=shift).eval()
    clip = MovingShapes(1, frames=16, size=32, classes=("right_left", "left_right"))[0][0][None]
    with torch.no_grad():  # the pooled features: what the classifier sees
        pooled = [model.forward_features(c).mean(dim=(1, 2, 3)) for c in (clip, clip.roll(8, dims=2))]
    if invariant:
        torch.testing.assert_close(*pooled, rtol=1e-5, atol=1e-5)
    else:
        assert (pooled[0] - pooled[1]).abs().max() > 1e-3


def test_factorised_block_is_space_then_time_then_mlp():
    block = FactorisedVideoSwinBlock(16, 2, window_size=(2, 4, 4), shift_size=(1, 2, 2)).eval()
    assert block.window_size == (1, 4, 4) and block.shift_size == (0, 2, 2)
    assert block.temporal_window == (2, 1, 1) and block.temporal_shift == (1, 0, 0)
    x = torch.randn(2, 4, 8, 8, 16)
    with torch.no_grad():
        y = x + block.attention(block.norm1(x))
        y = y + shifted_window_attention(block.norm_t(y), block.attn_t, (2, 1, 1), (1, 0, 0))
        y = y + block.mlp(block.norm2(y))
        torch.testing.assert_close(block(x), y)
    with pytest.raises(ValueError, match="two attentions"):
        block(x, return_attn=True)
    with pytest.raises(ValueError, match="shift_size"):
        FactorisedVideoSwinBlock(16, 2, window_size=(2, 4, 4), shift_size=(2, 2, 2))


def test_factorised_model_trains_and_counts():
    model = build("micro", attention="factorised")
    assert all(isinstance(b, FactorisedVideoSwinBlock) for s in model.stages for b in s.blocks)
    assert all(type(b) is VideoSwinBlock for s in build("micro").stages for b in s.blocks)
    # per block: a second LN (2C), qkv and proj (4C^2 + 4C); the (2P-1)(2M-1)^2 = 343-row bias table
    # becomes a 1*7*7 (space) and a 7*1*1 (time) one, per head
    extra = sum(2 * (2 * C + 4 * C * C + 4 * C + heads * (49 + 7 - 343)) for C, heads in ((48, 3), (96, 6)))
    assert model_params(model) - model_params("micro") == extra
    video = torch.randn(2, 3, 8, 32, 32)
    model(video).logsumexp(-1).sum().backward()
    table = model.stages[0].blocks[1].attn_t.relpos.relative_position_bias_table
    assert table.grad is not None and table.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="attention"):
        build("micro", attention="split")


def test_train_config_and_cli_carry_the_ablation():
    args = make_parser().parse_args(["--shift-size", "0", "2", "2", "--attention", "factorised"])
    assert args.shift_size == [0, 2, 2] and args.attention == "factorised"
    config = TrainConfig.from_dict(
        {**TrainConfig().to_dict(), "shift_size": [0, 2, 2], "attention": "factorised"}
    )
    assert config.shift_size == (0, 2, 2)
    model = build_model(config)
    assert model.config.attention == "factorised" and model.stages[0].blocks[1].shift_size == (0, 2, 2)
    with pytest.raises(ValueError, match="attention"):
        TrainConfig(attention="split")
