"""Bad input gets a clear error that names the argument, the expected and the actual value."""

import pytest
import torch

from vswin_edu.attention import WindowAttention3D
from vswin_edu.block import VideoSwinBlock
from vswin_edu.convert import from_torchvision, load_state_dict_strict
from vswin_edu.merging import PatchMerging
from vswin_edu.model import VideoSwinTransformer, build, video_swin_micro
from vswin_edu.patch import PatchEmbed3D, patch_partition
from vswin_edu.relpos import RelativePositionBias3D, relative_position_index
from vswin_edu.shift import region_ids, shifted_window_mask
from vswin_edu.windows import effective_window, window_partition, window_reverse


def test_model_rejects_wrong_rank_and_channels():
    model = video_swin_micro().eval()
    with pytest.raises(
        ValueError, match=r"video must have shape \(B, 3, T, H, W\).*4 dims.*\(3, 16, 32, 32\)"
    ):
        model(torch.randn(3, 16, 32, 32))
    with pytest.raises(ValueError, match=r"3 channels.*\(1, 1, 16, 32, 32\)"):
        model(torch.randn(1, 1, 16, 32, 32))
    with pytest.raises(TypeError, match="video must be a torch.Tensor"):
        model([1, 2, 3])


def test_window_and_patch_sizes_are_validated():
    with pytest.raises(ValueError, match=r"window_size must have 3 entries \(D, H, W\), got 2"):
        window_partition(torch.randn(1, 4, 4, 4, 2), (2, 2))
    with pytest.raises(ValueError, match=r"window_size must be positive on every axis, got \(2, 0, 2\)"):
        shifted_window_mask((4, 4, 4), (2, 0, 2), (1, 0, 1))
    with pytest.raises(ValueError, match=r"patch_size must have 3 entries"):
        PatchEmbed3D(patch_size=(4, 4))
    with pytest.raises(ValueError, match=r"patch_size must be positive"):
        patch_partition(torch.randn(1, 3, 4, 8, 8), (2, -4, 4))
    with pytest.raises(TypeError, match=r"window_size must hold ints"):
        relative_position_index((2.0, 2, 2))
    with pytest.raises(ValueError, match=r"must be a multiple of window_size \(2, 4, 4\)"):
        window_partition(torch.randn(1, 4, 6, 8, 2), (2, 4, 4))
    with pytest.raises(ValueError, match=r"windows must have shape \(B\*nW, N, C\) = \(8, 32, C\)"):
        window_reverse(torch.randn(4, 32, 2), (2, 4, 4), 1, 4, 8, 8)
    with pytest.raises(ValueError, match=r"shift_size on axis H must be smaller than the window"):
        region_ids((4, 8, 8), (2, 4, 4), (1, 4, 2))
    with pytest.raises(ValueError, match=r"input_dhw must be positive"):
        effective_window((0, 4, 4), (2, 2, 2), (1, 1, 1))


def test_modules_validate_dims_and_heads():
    with pytest.raises(ValueError, match=r"dim \(30\) must be divisible by num_heads \(4\)"):
        WindowAttention3D(30, (2, 2, 2), 4)
    with pytest.raises(ValueError, match="num_heads must be a positive int"):
        RelativePositionBias3D((2, 2, 2), 0)
    with pytest.raises(ValueError, match=r"shift_size must be smaller than window_size"):
        VideoSwinBlock(8, 2, window_size=(2, 2, 2), shift_size=(1, 2, 1))
    block = VideoSwinBlock(8, 2, window_size=(2, 2, 2))
    with pytest.raises(ValueError, match=r"x must have C=8 channels.*\(1, 2, 2, 2, 6\)"):
        block(torch.randn(1, 2, 2, 2, 6))
    with pytest.raises(ValueError, match=r"channels-last token grid \(B, D, H, W, C\) with 5 dims, got 4"):
        block(torch.randn(2, 2, 2, 8))
    with pytest.raises(ValueError, match=r"x must have C=6 channels"):
        PatchMerging(6)(torch.randn(1, 2, 4, 4, 8))
    attn = WindowAttention3D(8, (2, 2, 2), 2)
    with pytest.raises(ValueError, match=r"x must have shape \(B\*nW, N, C=8\)"):
        attn(torch.randn(4, 8, 6))
    with pytest.raises(ValueError, match=r"N=6 tokens per window but the window .* has 8"):
        attn(torch.randn(4, 6, 8))
    with pytest.raises(ValueError, match=r"depths and num_heads must have one entry per stage"):
        VideoSwinTransformer(depths=(2, 2), num_heads=(3,))


def test_converter_lists_missing_unexpected_and_misshaped_keys():
    model = video_swin_micro()
    sd = model.state_dict()
    broken = {k: v for k, v in sd.items() if k != "head.weight"}
    broken["head.extra"] = torch.zeros(1)
    with pytest.raises(
        KeyError, match=r"1 missing key\(s\) \['head.weight'\].*1 unexpected key\(s\) \['head.extra'\]"
    ):
        load_state_dict_strict(model, broken)
    wrong = dict(sd)
    wrong["head.weight"] = torch.zeros(3, 3)
    with pytest.raises(
        ValueError,
        match=r"shape mismatch at 'head.weight': the checkpoint has \(3, 3\), the model expects \(8, 96\)",
    ):
        load_state_dict_strict(model, wrong)
    with pytest.raises(KeyError, match=r"no mapping, e.g. \['backbone.patch_embed.proj.weight'\]"):
        from_torchvision({"backbone.patch_embed.proj.weight": torch.zeros(1)})


def test_weights_of_a_wider_variant_name_the_first_mismatching_key():
    wide = build("micro", embed_dim=96).state_dict()
    with pytest.raises(
        ValueError,
        match=r"shape mismatch at 'patch_embed.proj.weight'.*\(96, 3, 2, 4, 4\).*\(48, 3, 2, 4, 4\)",
    ):
        load_state_dict_strict(video_swin_micro(), wide)
