"""Checkpoint conversion: exact round trips, equal logits across layouts, 2D inflation invariance,
``video_swin_*(weights=...)`` / ``convert.load`` for every layout, and the error messages."""

from __future__ import annotations

import re

import pytest
import torch
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.video.swin_transformer import SwinTransformer3d

import vswin_edu
from vswin_edu import convert
from vswin_edu.model import VideoSwinTransformer, build, video_swin_micro, video_swin_t
from vswin_edu.relpos import relative_position_index

# torchvision twins of the micro preset (C=48, depths (2, 2), heads (3, 6), window 4x4x4, 8 classes)
MICRO = dict(patch_size=[2, 4, 4], embed_dim=48, depths=[2, 2], num_heads=[3, 6], window_size=[4, 4, 4])
TINY = dict(patch_size=[2, 4, 4], embed_dim=32, depths=[2, 2], num_heads=[2, 4], window_size=[2, 3, 3])
TINY_2D = dict(patch_size=[4, 4], embed_dim=32, depths=[2, 2], num_heads=[2, 4], window_size=[3, 3])


class TrainConfig:
    """A Python object in a checkpoint, like the configs some training scripts pickle."""


def tv3d(cfg=TINY, num_classes: int = 5, seed: int = 0) -> SwinTransformer3d:
    torch.manual_seed(seed)
    return SwinTransformer3d(**cfg, num_classes=num_classes).eval()


def tv2d(seed: int = 0) -> SwinTransformer:
    torch.manual_seed(seed)
    return SwinTransformer(**TINY_2D, num_classes=10).eval()


def video(T: int = 4, H: int = 24, W: int = 24, seed: int = 1) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(2, 3, T, H, W)


def assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].shape == b[key].shape and torch.equal(a[key], b[key]), key


def tv2d_to_official(sd: dict) -> dict:
    """torchvision swin_t layout -> the official 2D (microsoft/Swin-Transformer) key names."""
    out = {}
    for key, value in sd.items():
        key = key.replace("features.0.0.", "patch_embed.proj.").replace("features.0.2.", "patch_embed.norm.")
        key = re.sub(r"^features\.(\d*[13579])\.", lambda m: f"layers.{int(m[1]) // 2}.blocks.", key)
        key = re.sub(r"^features\.(\d*[02468])\.", lambda m: f"layers.{int(m[1]) // 2 - 1}.downsample.", key)
        out[key.replace("mlp.0.", "mlp.fc1.").replace("mlp.3.", "mlp.fc2.")] = value
    return out


# --- round trips ------------------------------------------------------------------------------


def test_torchvision_round_trip_is_exact():
    tv = tv3d()
    ours = convert.from_torchvision(tv)
    assert_same(convert.to_torchvision(ours, window_size=(2, 3, 3)), tv.state_dict())
    assert_same(convert.from_torchvision(convert.to_torchvision(ours, (2, 3, 3))), ours)


@pytest.mark.parametrize("norm_name", ["norm", "norm1"])
def test_official_round_trip_is_exact(norm_name):
    ours = convert.from_torchvision(tv3d())
    official = convert.to_official(ours, window_size=(2, 3, 3), norm_name=norm_name)
    assert "cls_head.fc_cls.weight" in official and f"backbone.{norm_name}.weight" in official
    assert official["backbone.layers.0.blocks.0.attn.relative_position_index"].shape == (18, 18)
    assert_same(convert.from_official({"state_dict": official, "meta": {"epoch": 30}}), ours)


def test_official_to_torchvision_gives_equal_logits():
    tv = tv3d()
    x = video()
    with torch.no_grad():
        expected = tv(x)
    official = {"state_dict": convert.to_official(convert.from_torchvision(tv), (2, 3, 3))}
    ours = convert.from_official(official)
    fresh = SwinTransformer3d(**TINY, num_classes=5).eval()
    fresh.load_state_dict(convert.to_torchvision(ours, (2, 3, 3)), strict=True)
    model = convert.load_state_dict_strict(VideoSwinTransformer(**TINY, num_classes=5).eval(), ours)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), expected, rtol=0, atol=0)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_duplicate_targets_are_refused():
    sd = convert.to_official(convert.from_torchvision(tv3d()), None)
    sd["backbone.norm3.weight"] = sd["backbone.norm.weight"]
    with pytest.raises(KeyError, match="map to 'norm.weight'"):
        convert.from_official(sd)


# --- 2D inflation -----------------------------------------------------------------------------


@pytest.mark.parametrize("frames", [2, 4, 8])  # 8 frames: D=4 > P=2, so a temporal shift of 1 too
def test_inflated_2d_model_on_a_static_clip_gives_the_2d_logits(frames):
    tv = tv2d()
    sd, report = convert.inflate_2d({"model": tv.state_dict()}, window_size=(2, 3, 3), keep_head=True)
    model = convert.load_into(VideoSwinTransformer(**convert.infer_config(sd, (2, 3, 3))).eval(), sd)
    image = video(T=1)[:, :, 0]  # (B, 3, H, W); 24x24 -> 6x6 and 3x3 tokens: no window differs
    clip = image[:, :, None].expand(-1, -1, frames, -1, -1)  # (B, 3, T, H, W), all frames equal
    with torch.no_grad():
        torch.testing.assert_close(model(clip), tv(image), rtol=1e-5, atol=1e-5)
    assert report.inflated[0] == "patch_embed.proj.weight" and len(report.inflated) == 1 + 4
    assert report.resized == [] and all("relative_position_index" in k for k in report.dropped)


def test_official_2d_layout_inflates_like_torchvision_2d():
    sd = tv2d().state_dict()
    official = {"model": tv2d_to_official(sd)}
    assert convert.detect_layout(official["model"]) == "official_2d"
    a, _ = convert.inflate_2d(sd, window_size=(2, 3, 3))
    b, report = convert.inflate_2d(official, window_size=(2, 3, 3))
    assert_same(a, b)
    assert "head.weight" not in b and "head.weight" in report.dropped


def test_inflate_patch_weight_averages_over_time():
    w2d = torch.randn(8, 3, 4, 4)
    w3d = convert.inflate_patch_weight(w2d, 3)
    assert w3d.shape == (8, 3, 3, 4, 4)
    torch.testing.assert_close(w3d.sum(2), w2d)
    assert torch.equal(w3d[:, :, 0], w3d[:, :, 2])


def test_inflated_table_reads_the_2d_bias_at_every_temporal_offset():
    M, P = 3, 2
    table_2d = torch.randn((2 * M - 1) ** 2, 4)
    table_3d = convert.inflate_bias_table(table_2d, (P, M, M))
    assert table_3d.shape == ((2 * P - 1) * (2 * M - 1) ** 2, 4)
    index_3d = relative_position_index((P, M, M)).view(P, M * M, P, M * M)  # (t_q, hw_q, t_k, hw_k)
    index_2d = relative_position_index((1, M, M))  # (M*M, M*M)
    for tq in range(P):
        for tk in range(P):
            assert torch.equal(table_3d[index_3d[tq, :, tk]], table_2d[index_2d])


def test_bias_table_is_resized_when_the_2d_window_differs():
    table_12 = torch.randn(23 * 23, 4)  # a 2D window of 12 (Swin-B 384^2)
    table = convert.inflate_bias_table(table_12, (8, 7, 7))
    assert table.shape == (15 * 13 * 13, 4)
    torch.testing.assert_close(table[: 13 * 13], table[13 * 13 : 2 * 13 * 13])
    sd = {"model": SwinTransformer(**{**TINY_2D, "window_size": [4, 4]}, num_classes=10).state_dict()}
    _, report = convert.inflate_2d(sd, window_size=(2, 3, 3))
    assert len(report.resized) == 4 and "resized  4" in str(report)


@pytest.mark.slow
def test_inflated_torchvision_swin_t_on_a_static_clip_gives_its_logits():
    from torchvision.models import swin_t

    torch.manual_seed(0)
    tv = swin_t(weights=None).eval()
    model = convert.load({"model": tv.state_dict()}, keep_head=True).eval()
    assert model.config.window_size == (8, 7, 7) and model.config.num_classes == 1000
    image = torch.randn(1, 3, 224, 224)  # 56, 28, 14, 7 tokens: multiples of 7, no window shrinks
    with torch.no_grad():
        torch.testing.assert_close(
            model(image[:, :, None].expand(-1, -1, 4, -1, -1)), tv(image), rtol=1e-5, atol=1e-5
        )


# --- loading files of every layout ------------------------------------------------------------


def micro_checkpoints(tmp_path) -> tuple[SwinTransformer3d, dict]:
    tv = tv3d(MICRO, num_classes=8)
    ours = convert.from_torchvision(tv)
    official = convert.to_official(ours, (4, 4, 4))
    mmaction = convert.to_official(ours, (4, 4, 4), norm_name="norm1")
    files = {
        "vswin_edu": ours,
        "torchvision": tv.state_dict(),
        "official": {"state_dict": official, "meta": {"epoch": 30}},
        "mmaction2": {"state_dict": mmaction},
        "ddp": {"model_state_dict": {f"module.{k}": v for k, v in ours.items()}},
        "train": {"model": ours, "optimizer": {"state": {}, "param_groups": []}, "step": 3},  # like .train
    }
    paths = {}
    for name, obj in files.items():
        paths[name] = tmp_path / f"{name}.pth"
        torch.save(obj, paths[name])
    return tv, paths


def test_builder_and_load_read_every_video_layout(tmp_path):
    tv, paths = micro_checkpoints(tmp_path)
    x = video(T=4, H=32, W=32)  # 8x8 then 4x4 tokens: no spatial window shrinks (see chapter 9)
    with torch.no_grad():
        expected = tv(x)
    for name, path in paths.items():
        for model in (video_swin_micro(weights=path), vswin_edu.load(str(path))):
            assert model.config.num_classes == 8, name
            with torch.no_grad():
                torch.testing.assert_close(model.eval()(x), expected, rtol=1e-5, atol=1e-5, msg=name)


def test_load_infers_the_variant_and_inflates_2d_files(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(tv3d().state_dict(), path)
    model = convert.load(path)
    assert (model.config.embed_dim, model.config.depths, model.config.num_heads) == (32, (2, 2), (2, 4))
    assert model.config.window_size == (2, 3, 3) and model.config.num_classes == 5
    tv = tv2d()
    for layout, sd in (("tv", tv.state_dict()), ("official", {"model": tv2d_to_official(tv.state_dict())})):
        path = tmp_path / f"swin2d_{layout}.pth"
        torch.save(sd, path)
        model = convert.load(path, window_size=(2, 3, 3), keep_head=True).eval()
        image = video(T=1)[:, :, 0]
        with torch.no_grad():
            torch.testing.assert_close(model(image[:, :, None].expand(-1, -1, 4, -1, -1)), tv(image))
        fresh = convert.load(path, window_size=(2, 3, 3), num_classes=3)  # 2D head dropped by default
        assert fresh.config.num_classes == 3 and fresh.config.patch_size == (2, 4, 4)


def test_builder_without_weights_is_unchanged():
    assert video_swin_micro().config.num_classes == 8
    assert video_swin_micro(num_classes=3).head.out_features == 3


# --- errors -----------------------------------------------------------------------------------


def test_swin_b_weights_into_swin_t_name_the_first_mismatch():
    with torch.device("meta"):  # shapes only: no memory, no init cost
        swin_b = build("b").state_dict()
        swin_t = build("t")
    with pytest.raises(ValueError) as err:
        convert.load_into(swin_t, swin_b)
    msg = str(err.value)
    assert "'patch_embed.proj.weight'" in msg and "(128, 3, 2, 4, 4)" in msg and "(96, 3, 2, 4, 4)" in msg
    assert "Swin-B" in msg


def test_builder_names_the_mismatch_for_a_wrong_variant():
    with pytest.raises(
        ValueError, match=r"'patch_embed.proj.weight'.*\(32, 3, 2, 4, 4\).*\(48, 3, 2, 4, 4\)"
    ):
        video_swin_micro(weights=convert.from_torchvision(tv3d()))


def test_num_classes_against_the_checkpoint_head(tmp_path):
    sd = convert.from_torchvision(tv3d(MICRO, num_classes=8))
    with pytest.raises(ValueError, match="head.weight"):
        video_swin_micro(num_classes=3, weights=sd)
    with pytest.raises(ValueError, match="keep_head=False"):
        convert.load(sd, num_classes=3)
    assert convert.load(sd, num_classes=3, keep_head=False).config.num_classes == 3


def test_unknown_layout_lists_keys():
    with pytest.raises(ValueError, match=r"unknown checkpoint layout.*encoder\.layer\.0\.weight"):
        convert.load({"encoder.layer.0.weight": torch.zeros(2, 2)})


def test_unmapped_keys_are_reported():
    sd = tv3d().state_dict()
    sd["features.0.0.attn.extra.weight"] = torch.zeros(1)
    sd["pos_embed"] = torch.zeros(1)
    with pytest.raises(KeyError, match="pos_embed"):
        convert.from_torchvision(sd)


def test_bad_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.pth"
    torch.save(convert.from_torchvision(tv3d()), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:1000])
    text = tmp_path / "notes.txt"
    text.write_text("these are not weights")
    for path in (truncated, text):
        with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
            convert.load(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        video_swin_t(weights=tmp_path / "missing.pth")
    pickled = tmp_path / "pickled.pth"
    torch.save({"state_dict": convert.from_torchvision(tv3d()), "cfg": TrainConfig()}, pickled)
    with pytest.raises(ValueError, match="weights_only=True refuses"):
        convert.load(pickled)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        convert.load(listed)


def test_window_inference():
    assert convert.infer_window(15 * 13 * 13) == (8, 7, 7)
    assert convert.infer_window(31 * 13 * 13) == (16, 7, 7)
    with pytest.raises(ValueError, match="window_size"):
        convert.infer_window(81)  # (1, 5, 5) or (5, 2, 2)


def test_full_size_official_key_sets_map_both_ways():
    with torch.device("meta"):  # Swin-T/B key sets and shapes without memory
        for name in ("t", "b"):
            ours = build(name).state_dict()
            official = convert.to_official(ours, window_size=None, norm_name="norm3")  # mmaction2 1.x
            assert "backbone.norm3.weight" in official
            assert "backbone.layers.3.blocks.1.mlp.fc2.bias" in official
            back = convert.from_official({"state_dict": official})
            assert list(back) == list(ours)
            assert all(back[k].shape == ours[k].shape for k in ours)
            assert convert.variant_name(convert.infer_config(back)) == f"Swin-{name.upper()}"


def test_backbone_only_checkpoint_gets_a_fresh_head():
    sd = convert.to_official(convert.from_torchvision(tv3d(MICRO, num_classes=8)), None)
    backbone = {k: v for k, v in sd.items() if k.startswith("backbone.")}
    model = video_swin_micro(weights=backbone, num_classes=3)
    assert model.head.out_features == 3
    torch.testing.assert_close(model.norm.weight, backbone["backbone.norm.weight"], rtol=0, atol=0)
    assert convert.load(backbone).config.num_classes == 400  # the config default


def test_swin_v2_is_refused_by_name():
    from torchvision.models.swin_transformer import PatchMergingV2, SwinTransformerBlockV2

    v2 = SwinTransformer(**TINY_2D, block=SwinTransformerBlockV2, downsample_layer=PatchMergingV2)
    with pytest.raises(ValueError, match="Swin V2 checkpoint"):
        convert.inflate_2d(v2.state_dict(), window_size=(2, 3, 3))
