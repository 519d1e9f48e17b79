"""Named weights, inference transforms, frame decoding and ``predict`` (issue 17, parts 1-2).

Nothing is downloaded: the weights tests write a torchvision-layout file where torch.hub's cache
looks (a temporary ``TORCH_HOME``) and make any download fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.error import URLError

import pytest
import torch
from torchvision.models import video as tv_video
from torchvision.models._meta import _KINETICS400_CATEGORIES

import vswin_edu
from vswin_edu.data import count_frames, multi_view, multi_view_indices, read_frames, read_video, write_video
from vswin_edu.model import build, video_swin_t
from vswin_edu.predict import main, parse_views, predict
from vswin_edu.transforms import VideoClassificationPreset, default_resize
from vswin_edu.weights import (
    KINETICS400_CATEGORIES,
    VideoSwin_B_Weights,
    VideoSwin_S_Weights,
    VideoSwin_T_Weights,
    get_weights,
)

PAIRS = [
    (VideoSwin_T_Weights.KINETICS400_V1, tv_video.Swin3D_T_Weights.KINETICS400_V1, "t"),
    (VideoSwin_S_Weights.KINETICS400_V1, tv_video.Swin3D_S_Weights.KINETICS400_V1, "s"),
    (VideoSwin_B_Weights.KINETICS400_V1, tv_video.Swin3D_B_Weights.KINETICS400_V1, "b"),
    (
        VideoSwin_B_Weights.KINETICS400_IMAGENET22K_V1,
        tv_video.Swin3D_B_Weights.KINETICS400_IMAGENET22K_V1,
        "b",
    ),
]


def _frames(t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0, 256, (t, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


# --- the weights' metadata: torchvision's numbers, the shipped class names ------------------------


def test_kinetics400_categories_ship_with_the_package():
    assert KINETICS400_CATEGORIES == list(_KINETICS400_CATEGORIES)
    assert VideoSwin_T_Weights.DEFAULT.meta["categories"] == KINETICS400_CATEGORIES


@pytest.mark.parametrize("ours, theirs, preset", PAIRS, ids=lambda x: str(x).split(".")[-1])
def test_each_member_is_torchvisions_file_with_its_meta(ours, theirs, preset):
    assert ours.url == theirs.url and ours.meta["torchvision"] == repr(theirs)
    assert {k: v for k, v in ours.meta.items() if k != "torchvision"} == theirs.meta
    mine, tv = ours.transforms(), theirs.transforms()
    assert [mine.crop_size] * 2 == tv.crop_size and [mine.resize_size] == tv.resize_size
    assert list(mine.mean) == tv.mean and list(mine.std) == tv.std
    with torch.device("meta"):  # no memory, no init: just the parameter count
        assert sum(p.numel() for p in build(preset).parameters()) == ours.meta["num_params"]


def test_names_resolve_like_torchvision_and_errors_say_what_exists():
    member = VideoSwin_T_Weights.KINETICS400_V1
    for name in ("KINETICS400_V1", "VideoSwin_T_Weights.KINETICS400_V1", "DEFAULT", member):
        assert get_weights("t", name) is member
    with pytest.raises(TypeError, match="VideoSwin_T_Weights"):
        get_weights("t", VideoSwin_B_Weights.KINETICS400_V1)
    with pytest.raises(TypeError, match="VideoSwin_T_Weights"):
        get_weights("t", tv_video.Swin3D_T_Weights.KINETICS400_V1)  # torchvision's own enum
    with pytest.raises(FileNotFoundError, match=r"KINETICS400_V1"):
        video_swin_t(weights="KINETICS_V9")
    with pytest.raises(FileNotFoundError, match="no named weights"):
        get_weights("l", "KINETICS400_V1")


@pytest.fixture(scope="module")
def torchvision_swin_t(tmp_path_factory):
    """torchvision's ``swin3d_t`` with random weights, saved where torch.hub's cache looks."""
    torch.manual_seed(0)
    tv = tv_video.swin3d_t().eval()
    home = tmp_path_factory.mktemp("torch_home")
    path = home / "hub" / "checkpoints" / VideoSwin_T_Weights.KINETICS400_V1.url.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True)
    torch.save(tv.state_dict(), path)
    return tv, home


def _no_downloads(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise URLError(f"the tests download nothing (asked for {url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_a_torchvision_file_loads_through_the_enum_with_its_transforms(torchvision_swin_t, monkeypatch):
    tv, home = torchvision_swin_t
    monkeypatch.setenv("TORCH_HOME", str(home))
    _no_downloads(monkeypatch)
    member = VideoSwin_T_Weights.KINETICS400_V1
    assert member.cached_file.is_file()
    model = video_swin_t(weights=member).eval()
    assert model.weights is member
    clip = member.transforms()(_frames(2, 60, 80))  # (3, 2, 224, 224)
    assert clip.shape == (3, 2, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(clip[None]), tv(clip[None]), atol=1e-5, rtol=0)


def test_the_cli_loads_named_weights_by_name(torchvision_swin_t, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCH_HOME", str(torchvision_swin_t[1]))
    _no_downloads(monkeypatch)
    path = tmp_path / "clip.mp4"
    write_video(path, _frames(4, 64, 80))
    name = "VideoSwin_T_Weights.KINETICS400_V1"  # what video_swin_t(weights=name) is given
    args = [str(path), "--weights", name, "--views", "1x1", "--frames", "2", "--topk", "2", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)  # labels are the weights' categories
    assert out["labels"] == [KINETICS400_CATEGORIES[i] for i in out["indices"]] and len(out["labels"]) == 2


def test_weights_not_in_the_cache_offline_say_where_the_file_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _no_downloads(monkeypatch)
    member = VideoSwin_S_Weights.KINETICS400_V1
    with pytest.raises(ConnectionError, match="swin3d_s-da41c237.pth") as info:
        member.get_state_dict(progress=False)
    assert str(member.cached_file) in str(info.value)


# --- the inference transforms ---------------------------------------------------------------------


def test_the_preset_is_torchvisions_video_classification():
    frames = _frames(3, 70, 93)  # 70 x 93 -> 256 x 340 -> centre 224 x 224
    theirs = tv_video.Swin3D_T_Weights.KINETICS400_V1.transforms()(
        frames.permute(0, 3, 1, 2)
    )  # takes (T, C, H, W)
    ours = VideoSwin_T_Weights.KINETICS400_V1.transforms()(frames)  # takes (T, H, W, C)
    assert ours.shape == theirs.shape == (3, 3, 224, 224) and ours.dtype == torch.float32
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


def test_three_crops_are_the_crops_of_multi_view():
    frames = _frames(4, 64, 80)  # 64 x 80 -> 32 x 40: three 32² crops along the width
    ours = VideoClassificationPreset(crop_size=32, num_crops=3, mean=(0, 0, 0), std=(1, 1, 1))(frames)
    video = frames.permute(3, 0, 1, 2).float() / 255  # (C, T, H, W)
    theirs = multi_view(video, num_clips=1, num_crops=3, clip_len=4, stride=1, crop=32)
    assert ours.shape == theirs.shape == (3, 3, 4, 32, 32)
    assert (ours - theirs).abs().max() <= 0.5 / 255 + 1e-6  # ours rounds to grey levels, multi_view does not


def test_preset_sizes_and_errors():
    assert default_resize(224, 1) == 256 and default_resize(224, 3) == 224
    assert VideoClassificationPreset(num_crops=3).resize_size == 224
    with pytest.raises(ValueError, match="uint8"):
        VideoClassificationPreset()(torch.rand(2, 64, 64, 3))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        VideoClassificationPreset()(_frames(2, 64, 64).permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match="resize_size"):
        VideoClassificationPreset(crop_size=224, resize_size=200)
    with pytest.raises(ValueError, match="num_crops"):
        VideoClassificationPreset(num_crops=0)


# --- decoding only the sampled frames -------------------------------------------------------------


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("videos") / "clip.mp4"
    write_video(path, _frames(16, 64, 80))
    return path


def test_read_frames_gives_the_frames_read_video_gives(video_file):
    index = torch.tensor([[9, 3, 3], [0, 15, 1]])
    assert count_frames(video_file) == 16
    assert torch.equal(read_frames(video_file, index.flatten()), read_video(video_file)[index.flatten()])


def _torchcodec_or_skip():
    from vswin_edu.data.video_io import _import_torchcodec

    try:
        _import_torchcodec()
    except ImportError as err:
        pytest.skip(f"the torchcodec backend cannot run here: {err}")


def test_torchcodec_seeks_to_the_same_frames(video_file):
    _torchcodec_or_skip()
    index = torch.tensor([9, 3, 3, 0, 15])
    assert count_frames(video_file, "torchcodec") == 16
    assert torch.equal(read_frames(video_file, index, "torchcodec"), read_frames(video_file, index))


def test_torchcodec_without_ffmpeg_names_what_is_missing(video_file, monkeypatch):
    torchcodec = pytest.importorskip(
        "torchcodec", reason="torchcodec is not installed (pip install torchcodec)"
    )
    monkeypatch.setattr(torchcodec, "ffmpeg_major_version", None)  # as when no libavcodec is found
    with pytest.raises(ImportError, match="libavcodec"):
        read_frames(video_file, torch.tensor([0]), "torchcodec")


@pytest.mark.parametrize("backend", ["pyav", "torchcodec"])
def test_bad_files_get_clear_errors(tmp_path, backend):
    if backend == "torchcodec":
        _torchcodec_or_skip()
    with pytest.raises(FileNotFoundError, match="no video file"):
        count_frames(tmp_path / "missing.mp4", backend)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(ValueError, match="not a video file"):
        count_frames(text, backend)
    with pytest.raises(ValueError, match="backend"):
        count_frames(text, "opencv")


# --- predict: views, averaged scores, the CLI ----------------------------------------------------


@pytest.fixture(scope="module")
def micro():
    torch.manual_seed(0)
    return build("micro", num_classes=5).eval()


TINY = dict(clip_len=8, stride=2, transform=VideoClassificationPreset(crop_size=32, num_crops=3))


def test_predict_averages_the_softmax_of_every_view(micro, video_file):
    result = predict(micro, video_file, views=(2, 3), topk=5, **TINY)
    frames = read_video(video_file)[multi_view_indices(16, 2, 8, 2)]  # (2, 8, H, W, 3)
    with torch.no_grad():
        logits = torch.cat([micro(TINY["transform"](clip)) for clip in frames])  # (6, 5)
    probs = logits.softmax(-1).mean(0)
    assert result.indices == probs.argsort(descending=True).tolist() and result.views == (2, 3)
    assert torch.allclose(torch.tensor(result.probs), probs.sort(descending=True).values, atol=1e-6)
    assert result.labels == [str(i) for i in result.indices] and abs(sum(result.probs) - 1) < 1e-5
    from_frames = vswin_edu.predict(micro, read_video(video_file), (2, 3), 5, **TINY)  # the module calls
    assert from_frames.indices == result.indices
    named = predict(micro, video_file, (1, 3), 2, categories=list("abcde"), **TINY)
    assert named.labels == ["abcde"[i] for i in named.indices]


def test_predict_rejects_bad_views_topk_and_categories(micro, video_file):
    micro.train()
    with pytest.raises(ValueError, match="views"):
        predict(micro, video_file, views=(0, 3), **TINY)
    for topk in (0, 6):
        with pytest.raises(ValueError, match="topk"):
            predict(micro, video_file, views=(1, 3), topk=topk, **TINY)
    with pytest.raises(ValueError, match="categories"):
        predict(micro, video_file, views=(1, 3), topk=2, categories=["a"], **TINY)
    with pytest.raises(ValueError, match="crops"):
        predict(micro, video_file, views=(1, 1), topk=2, **TINY)  # the transform makes 3
    assert micro.training  # predict leaves the model in its own mode
    micro.eval()
    for text in ("4x", "4x3x2", "0x3", "ax3"):
        with pytest.raises(ValueError, match="CLIPSxCROPS"):
            parse_views(text)


def test_cli_errors_are_one_clear_line(micro, video_file, tmp_path, capsys):
    ckpt = tmp_path / "micro.pt"
    torch.save(micro.state_dict(), ckpt)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    cases = {
        "no video file": [str(tmp_path / "missing.mp4"), "--checkpoint", str(ckpt)],
        "not a video file": [str(text), "--checkpoint", str(ckpt)],
        "CLIPSxCROPS": [str(video_file), "--checkpoint", str(ckpt), "--views", "4x"],
        "topk": [str(video_file), "--checkpoint", str(ckpt), "--topk", "0"],
        "at most": [str(video_file), "--checkpoint", str(ckpt), "--topk", "6"],
        "exactly one": [str(video_file)],
    }
    for message, args in cases.items():
        assert main(args) == 2, message
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err, err


def test_cli_labels_a_video_end_to_end(micro, video_file, tmp_path):
    ckpt = tmp_path / "micro.pt"
    torch.save(micro.state_dict(), ckpt)
    args = ["--checkpoint", str(ckpt), "--views", "2x3", "--topk", "3", "--frames", "8", "--crop", "32"]
    run = subprocess.run(
        [sys.executable, "-m", "vswin_edu.predict", str(video_file), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)  # stdout holds the JSON alone; the progress bars went to stderr
    assert "decoding" in run.stderr and "views" in run.stderr
    expected = predict(micro, video_file, views=(2, 3), topk=3, **TINY)
    assert out["indices"] == expected.indices and out["labels"] == [str(i) for i in expected.indices]
    assert out["probs"] == sorted(out["probs"], reverse=True) and 0 < sum(out["probs"]) <= 1 + 1e-6
    assert torch.allclose(torch.tensor(out["probs"]), torch.tensor(expected.probs), atol=1e-5)
