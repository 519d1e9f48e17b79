"""Exact parity with torchvision's swin3d_* on the same (random) weights."""

import pytest
import torch
import torchvision.models.video.swin_transformer as tvswin
from torchvision.models.video import swin3d_b, swin3d_s, swin3d_t

from vswin_edu.convert import from_torchvision, load_state_dict_strict, to_torchvision
from vswin_edu.model import VideoSwinTransformer, video_swin_b, video_swin_s, video_swin_t
from vswin_edu.reference import brute_force_relative_bias


def _pair(tv_builder, our_builder):
    torch.manual_seed(0)
    tv = tv_builder().eval()
    ours = load_state_dict_strict(our_builder().eval(), from_torchvision(tv))
    return tv, ours


def _assert_same_logits(tv, ours, shape, atol=1e-5):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = tv(x), ours(x)
    diff = (expected - got).abs().max().item()
    assert diff <= atol, f"max |logits diff| = {diff:.3g} for input {shape}"
    return diff


@pytest.fixture(scope="module")
def swin_t_pair():
    return _pair(swin3d_t, video_swin_t)


@pytest.mark.parametrize(
    "shape",
    [
        (1, 3, 16, 224, 224),  # the standard clip (no padding, window clamped only in stage 4's H, W = 7)
        (2, 3, 10, 200, 230),  # T, H, W not multiples of the patch or the window: padding everywhere
        (1, 3, 4, 224, 224),  # fewer frames than the temporal window: only the leading axis shrinks
    ],
)
@pytest.mark.parametrize("fast", [False, True], ids=["readable", "fast"])
def test_swin3d_t_parity(swin_t_pair, shape, fast):
    tv, ours = swin_t_pair
    _assert_same_logits(tv, ours.use_fast_path(fast), shape)


@pytest.mark.parametrize("builders", [(swin3d_s, video_swin_s), (swin3d_b, video_swin_b)], ids=["s", "b"])
def test_swin3d_s_b_parity(builders):
    _assert_same_logits(*_pair(*builders), (1, 3, 6, 196, 200))


def _small_pair(window):
    torch.manual_seed(0)
    cfg = dict(
        patch_size=[2, 4, 4], embed_dim=32, depths=[2, 2, 2, 2], num_heads=[2, 4, 4, 8], window_size=window
    )
    tv = tvswin.SwinTransformer3d(stochastic_depth_prob=0.1, num_classes=10, **cfg).eval()
    ours = VideoSwinTransformer(**cfg, num_classes=10, drop_path_rate=0.1).eval()
    return tv, load_state_dict_strict(ours, from_torchvision(tv))


@pytest.mark.parametrize("fast", [False, True], ids=["readable", "fast"])
@pytest.mark.parametrize("shape", [(2, 3, 10, 100, 130), (1, 3, 3, 97, 75), (1, 3, 1, 96, 96)])
def test_small_window_parity_with_padding(shape, fast):
    # window (2, 3, 3): every stage pads; one frame makes the temporal window larger than the input
    tv, ours = _small_pair([2, 3, 3])
    _assert_same_logits(tv, ours.use_fast_path(fast), shape)


@pytest.mark.parametrize("shape", [(1, 3, 4, 96, 96), (1, 3, 1, 8, 8)])
def test_shrunken_spatial_window_differs_from_torchvision_but_matches_the_oracle(monkeypatch, shape):
    # (4, 96, 96): stage 3 and 4 grids (6x6, 3x3) are smaller than the 4x4 window;
    # (1, 8, 8): every window is larger than the input on every axis
    tv, ours = _small_pair([2, 4, 4])
    with pytest.raises(AssertionError):
        _assert_same_logits(tv, ours, shape)  # the upstream [:N, :N] slicing gives other biases

    def correct_bias(table, index, window_size):  # torchvision's helper, indexed by coordinates
        bias = brute_force_relative_bias(table, window_size, (2, 4, 4))  # (nH, N, N)
        return bias.unsqueeze(0)

    monkeypatch.setattr(tvswin, "_get_relative_position_bias", correct_bias)
    _assert_same_logits(tv, ours, shape)


def test_state_dict_round_trip_is_exact(swin_t_pair):
    tv, ours = swin_t_pair
    assert not any(k.endswith("relative_position_index") for k in ours.state_dict())  # a buffer, not saved
    back = to_torchvision(ours.state_dict())
    expected = tv.state_dict()
    assert back.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(back[key].view(value.shape), value), key


@pytest.mark.parametrize(
    "builder, paper_millions",
    [(video_swin_t, 28.2), (video_swin_s, 49.8), (video_swin_b, 88.1)],
)
def test_parameter_counts_match_the_paper(builder, paper_millions):
    with torch.device("meta"):
        n = sum(p.numel() for p in builder().parameters())
    assert abs(n / 1e6 - paper_millions) / paper_millions < 0.005
