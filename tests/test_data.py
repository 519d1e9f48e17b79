"""Tests of vswin_edu.data: synthetic dataset, clip samplers, multi-view testing, video files."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from vswin_edu.data import (
    SHAPE_CLASSES,
    MovingShapes,
    VideoFolder,
    average_scores,
    multi_view,
    multi_view_indices,
    read_video,
    sample_clip_indices,
    spatial_crops,
    write_video,
    write_video_folder,
)

PAIRS = [
    ("left", "right"),
    ("up", "down"),
    ("grow", "shrink"),
    ("rotate_cw", "rotate_ccw"),
    ("right_left", "left_right"),
]


def test_moving_shapes_item_shape_label_and_names():
    ds = MovingShapes(10, frames=8, size=16, classes=("left", "right", "grow"))
    video, label = ds[4]
    assert video.shape == (3, 8, 16, 16) and video.dtype == torch.float32
    assert label == 4 % 3 and ds.class_names == ("left", "right", "grow")
    assert [ds[i][1] for i in range(6)] == [0, 1, 2, 0, 1, 2]
    assert len(ds) == 10
    torch.testing.assert_close(video.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(video.std(dim=(1, 2, 3)), torch.ones(3))
    raw = MovingShapes(10, frames=8, size=16, noise=0.0, standardize=False)[4][0]
    assert 0 <= raw.min() and raw.max() <= 1


def test_moving_shapes_is_deterministic_and_worker_independent():
    ds = MovingShapes(6, frames=8, size=16, seed=3)
    assert torch.equal(ds[2][0], ds[2][0])
    assert torch.equal(ds[2][0], MovingShapes(6, frames=8, size=16, seed=3)[2][0])
    assert not torch.equal(ds[2][0], MovingShapes(6, frames=8, size=16, seed=4)[2][0])
    one = torch.cat([v for v, _ in DataLoader(ds, batch_size=2, num_workers=0)])
    two = torch.cat([v for v, _ in DataLoader(ds, batch_size=2, num_workers=2)])
    assert torch.equal(one, two)


@pytest.mark.parametrize("first,second", PAIRS)
def test_paired_classes_have_equal_frame_averages(first, second):
    """A per-frame model sees the same average frame for both classes of a pair."""
    ds = MovingShapes(4, frames=12, size=24, noise=0.05)  # standardised clips
    raw = MovingShapes(4, frames=12, size=24, noise=0.05, standardize=False)
    for i in range(4):
        a, b = ds.render(i, first, noise=False), ds.render(i, second, noise=False)
        torch.testing.assert_close(a.mean(dim=1), b.mean(dim=1), atol=1e-5, rtol=0)
        assert (a - b).abs().max() > 0.3  # ... yet the clips differ
        # both members of a pair get the same noise, so it cancels in the difference of averages
        noisy_a, noisy_b = raw.render(i, first), raw.render(i, second)
        torch.testing.assert_close(noisy_a.mean(dim=1), noisy_b.mean(dim=1), atol=1e-5, rtol=0)


def _centroid(frame: torch.Tensor) -> torch.Tensor:
    """Brightness-weighted centre (row, col) of the shape in one (3, H, W) frame."""
    weight = (frame.mean(0) - frame.mean(0).min()).clamp(min=0) ** 4
    ys = torch.arange(frame.shape[-1], dtype=torch.float32)
    return torch.stack([(weight.sum(1) * ys).sum(), (weight.sum(0) * ys).sum()]) / weight.sum()


def test_labels_match_the_motion():
    ds = MovingShapes(2, frames=8, size=32, noise=0.0)
    start, end = (_centroid(ds.render(0, "right")[:, t]) for t in (0, -1))
    assert end[1] - start[1] > 5 and abs(end[0] - start[0]) < 1  # right: column grows
    start, end = (_centroid(ds.render(0, "up")[:, t]) for t in (0, -1))
    assert start[0] - end[0] > 5  # up: row shrinks (image rows point down)
    grow = ds.render(0, "grow")
    area = [(grow[:, t].mean(0) - grow[:, t].mean(0).min() > 0.1).sum() for t in (0, -1)]
    assert area[1] > 4 * area[0]


@pytest.mark.parametrize("frames", [8, 16])
def test_bounce_pair_is_one_clip_with_its_halves_swapped(frames):
    ds = MovingShapes(3, frames=frames, size=16, classes=("right_left", "left_right"))
    for i in range(3):
        there_and_back, back_and_there = ds.render(i, "right_left"), ds.render(i, "left_right")
        half = frames // 2
        assert torch.equal(back_and_there, torch.cat([there_and_back[:, half:], there_and_back[:, :half]], 1))
    raw = MovingShapes(1, frames=frames, size=32, noise=0.0, standardize=False)
    path = [_centroid(raw.render(0, "right_left")[:, t])[1] for t in (0, frames // 2 - 1, frames - 1)]
    assert path[1] - path[0] > 5 and abs(path[2] - path[0]) < 0.5  # right, then back to the start


def test_paired_dataset_draws_every_class_from_the_same_sample():
    classes = ("right_left", "left_right", "grow")
    ds = MovingShapes(7, frames=8, size=16, classes=classes, paired=True)
    assert [ds[i][1] for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert torch.equal(ds[4][0], ds.render(1, "left_right"))
    assert torch.equal(ds[1][0], ds[0][0].roll(4, dims=1))  # the pair: one clip, halves swapped
    unpaired = MovingShapes(7, frames=8, size=16, classes=classes)
    assert torch.equal(unpaired[4][0], unpaired.render(4, "left_right"))


def test_bad_dataset_arguments_are_named():
    with pytest.raises(ValueError, match="classes"):
        MovingShapes(4, classes=("left", "sideways"))
    with pytest.raises(ValueError, match="class_name"):
        MovingShapes(4).render(0, "jump")
    with pytest.raises(IndexError):
        MovingShapes(4)[4]
    assert set(SHAPE_CLASSES) >= {c for pair in PAIRS for c in pair}


def test_sample_clip_indices_center_random_and_short_videos():
    assert sample_clip_indices(100, clip_len=32, stride=2, mode="center").tolist() == list(range(18, 82, 2))
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        idx = sample_clip_indices(70, clip_len=32, stride=2, generator=gen)
        assert len(idx) == 32 and (idx.diff() == 2).all() and 0 <= idx[0] <= 70 - 63
    starts = {int(sample_clip_indices(70, 32, 2, generator=gen)[0]) for _ in range(200)}
    assert starts == set(range(8))  # all 8 possible starts are drawn
    # a 10-frame video is looped to give 8 frames at stride 4
    assert sample_clip_indices(10, clip_len=8, stride=4).tolist() == [0, 4, 8, 2, 6, 0, 4, 8]
    assert sample_clip_indices(63, 32, 2, mode="random").tolist() == list(range(0, 63, 2))
    with pytest.raises(ValueError, match="mode"):
        sample_clip_indices(10, mode="middle")
    with pytest.raises(ValueError, match="stride"):
        sample_clip_indices(10, stride=0)


def test_multi_view_indices_are_uniform_and_contain_the_center_clip():
    idx = multi_view_indices(100, num_clips=4, clip_len=8, stride=2)  # span 15, slack 85
    assert idx.shape == (4, 8)
    assert idx[:, 0].tolist() == [10, 31, 53, 74]
    assert (idx.diff(dim=1) == 2).all()
    assert torch.equal(multi_view_indices(100, 1, 8, 2)[0], sample_clip_indices(100, 8, 2, "center"))
    assert torch.equal(multi_view_indices(5, 2, 4, 2), torch.tensor([[0, 2, 4, 1], [0, 2, 4, 1]]))


def test_spatial_crops_cover_the_longer_side():
    W = 48
    video = torch.arange(W, dtype=torch.float32).expand(3, 2, 16, W)  # pixel value = column
    crops = spatial_crops(video, crop=16, num_crops=3)  # already 16 high: no resizing
    assert crops.shape == (3, 3, 2, 16, 16)
    assert [c[0, 0, 0, 0].item() for c in crops] == [0.0, 16.0, 32.0]  # start, centre, end
    assert crops[2, 0, 0, 0, -1].item() == W - 1
    portrait = spatial_crops(video.transpose(-1, -2), crop=16, num_crops=3)
    assert torch.equal(portrait, crops.transpose(-1, -2))
    resized = spatial_crops(torch.rand(3, 2, 32, 64), crop=16, num_crops=3)  # 32x64 -> 16x32
    assert resized.shape == (3, 3, 2, 16, 16)
    assert spatial_crops(video, crop=16, num_crops=1)[0, 0, 0, 0, 0].item() == 16.0


def test_multi_view_orders_views_clip_major():
    T = 40
    video = torch.arange(T, dtype=torch.float32)[None, :, None, None].expand(3, T, 20, 30).clone()
    views = multi_view(video, num_clips=4, num_crops=3, clip_len=4, stride=2, crop=10)
    assert views.shape == (12, 3, 4, 10, 10)
    first_frames = views[:, 0, :, 0, 0]  # frame value of every view's frames
    starts = multi_view_indices(T, 4, 4, 2)
    assert torch.equal(first_frames, starts.float().repeat_interleave(3, dim=0))


def test_average_scores_softmax_and_logits():
    # one over-confident view for class 0, three mildly confident views for class 1
    logits = torch.tensor([[[10.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])  # (B=1, V=4, K=2)
    probs = average_scores(logits)
    expected = (torch.tensor([10.0, 0.0]).softmax(0) + 3 * torch.tensor([0.0, 1.0]).softmax(0)) / 4
    torch.testing.assert_close(probs, expected[None])
    torch.testing.assert_close(probs.sum(-1), torch.ones(1))
    assert probs.argmax(-1).item() == 1  # probabilities: the majority of views wins
    torch.testing.assert_close(average_scores(logits, "logits"), torch.tensor([[2.5, 0.75]]))
    assert average_scores(logits, "logits").argmax(-1).item() == 0  # logits: the loud view wins
    assert average_scores(logits[0]).shape == (2,)
    with pytest.raises(ValueError, match="mode"):
        average_scores(logits, mode="max")


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
    """Two classes, two tiny mpeg4 files each, written with PyAV from MovingShapes clips."""
    root = tmp_path_factory.mktemp("videos")
    shapes = MovingShapes(4, frames=20, size=32, classes=("left", "right"), noise=0.0, standardize=False)
    write_video_folder(shapes, root)
    (root / "left" / "notes.txt").write_text("not a video")
    return root


def test_read_video_round_trip(video_root):
    frames = read_video(video_root / "left" / "clip0.mp4")
    assert frames.shape == (20, 32, 32, 3) and frames.dtype == torch.uint8
    original = MovingShapes(4, frames=20, size=32, classes=("left", "right"), noise=0.0, standardize=False)[
        0
    ][0]
    decoded = frames.permute(3, 0, 1, 2).float() / 255
    assert (decoded - original).abs().mean() < 0.05  # lossy codec, but the same clip


def test_video_folder_lists_classes_and_samples_clips(video_root):
    ds = VideoFolder(video_root, clip_len=8, stride=2, mode="center")
    assert ds.class_names == ("left", "right") and len(ds) == 4
    assert [label for _, label in ds.videos] == [0, 0, 1, 1]
    video, label = ds[2]
    assert video.shape == (3, 8, 32, 32) and label == 1 and 0 <= video.min() and video.max() <= 1
    full = read_video(ds.videos[2][0]).permute(3, 0, 1, 2).float() / 255
    torch.testing.assert_close(video, full[:, 2:17:2])  # centre clip of 20 frames: start 2
    rand = VideoFolder(video_root, clip_len=4, stride=2, mode="random", seed=1)
    assert torch.equal(rand[0][0], rand[0][0])  # same (seed, epoch, index) -> same clip
    clips = set()
    for epoch in range(8):
        rand.set_epoch(epoch)
        clips.add(rand[0][0].sum().item())
    assert len(clips) > 1  # new clips in new epochs


def test_video_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="root"):
        VideoFolder(tmp_path / "missing")
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no video files"):
        VideoFolder(tmp_path)
    with pytest.raises(ValueError, match="frames"):
        write_video(tmp_path / "x.mp4", torch.zeros(2, 8, 8, 3))
