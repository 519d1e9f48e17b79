"""Multi-stage features: ``forward_features(video, stages=...)`` (timm's ``out_indices``)."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.video import swin3d_t

from vswin_edu.convert import from_torchvision, load_state_dict_strict
from vswin_edu.model import video_swin_micro, video_swin_t


@pytest.mark.slow
@pytest.mark.parametrize("fast", [False, True], ids=["readable", "fast"])
def test_every_stage_map_equals_torchvision_before_its_merge(fast):
    torch.manual_seed(0)
    tv = swin3d_t().eval()
    ours = load_state_dict_strict(video_swin_t(fast=fast).eval(), from_torchvision(tv))
    video = torch.randn(1, 3, 8, 224, 224)
    with torch.no_grad():
        maps = ours.forward_features(video, stages=(0, 1, 2, 3))
        x = tv.pos_drop(tv.patch_embed(video))  # (B, D, H, W, C)
        expected = []
        for i, layer in enumerate(tv.features):
            x = layer(x)
            if i % 2 == 0:  # features = [stage 0, merge, stage 1, merge, stage 2, merge, stage 3]
                expected.append(x)
        expected[-1] = tv.norm(expected[-1])
    assert [tuple(m.shape) for m in maps] == [
        (1, 96, 4, 56, 56),
        (1, 192, 4, 28, 28),
        (1, 384, 4, 14, 14),
        (1, 768, 4, 7, 7),
    ]
    for ours_map, tv_map in zip(maps, expected, strict=True):
        torch.testing.assert_close(ours_map, tv_map.permute(0, 4, 1, 2, 3), rtol=1e-4, atol=1e-5)


def test_maps_come_in_the_order_asked_and_later_stages_do_not_run():
    torch.manual_seed(0)
    model = video_swin_micro().eval()
    video = torch.randn(2, 3, 16, 32, 32)
    ran = []
    model.stages[1].register_forward_pre_hook(lambda *_: ran.append(1))
    for block in model.stages[1].blocks:
        block.register_forward_pre_hook(lambda *_: ran.append("block"))
    with torch.no_grad():
        (first,) = model.forward_features(video, stages=[0])
        assert ran == [] and first.shape == (2, 48, 8, 8, 8)
        late, early = model.forward_features(video, stages=(1, 0))
        tokens = model.forward_features(video)
    assert early.shape == (2, 48, 8, 8, 8) and late.shape == (2, 96, 8, 4, 4)
    torch.testing.assert_close(early, first)
    torch.testing.assert_close(late, tokens.permute(0, 4, 1, 2, 3))  # the last map is the normalised one
    assert model.stage_channels == [48, 96]


def test_an_empty_batch_gives_empty_maps_of_the_right_shapes():
    model = video_swin_micro().eval()
    maps = model.forward_features(torch.zeros(0, 3, 16, 32, 32), stages=(0, 1))
    assert [tuple(m.shape) for m in maps] == [(0, 48, 8, 8, 8), (0, 96, 8, 4, 4)]


@pytest.mark.parametrize(
    "stages, error, match",
    [
        ((0, 0), ValueError, "distinct numbers in 0..1"),
        ((2,), ValueError, "this model has 2"),
        ((), ValueError, "distinct"),
        (1, TypeError, "sequence of stage numbers"),
        (("0",), TypeError, "sequence of stage numbers"),
    ],
)
def test_bad_stage_lists_are_named(stages, error, match):
    with pytest.raises(error, match=match):
        video_swin_micro().forward_features(torch.zeros(1, 3, 16, 32, 32), stages=stages)
