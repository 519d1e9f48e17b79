"""Video data: a synthetic temporal-order dataset, clip sampling and multi-view testing
(paper Sec. 4.1 "Implementation details"; chapters 10-11).

* :class:`MovingShapes` — tiny clips whose classes come in pairs holding the *same* frames in
  another order: time-reversed (left/right, up/down, grow/shrink, clockwise/counter-clockwise) or
  with the two halves swapped (right-then-left / left-then-right, the "bounce" pair of chapter
  11's shift ablation).  A per-frame model cannot tell a pair apart; a video model must use order.
* :func:`sample_clip_indices` — the training clip: ``clip_len`` frames every ``stride`` frames
  (paper: 32 frames, stride 2 -> 16 x 56 x 56 tokens at 224²).
* :func:`multi_view` — test-time views: ``num_clips`` uniform temporal clips x ``num_crops``
  spatial crops along the longer side (paper: 4 x 3 on Kinetics, 1 x 3 on SSv2), whose scores
  :func:`average_scores` averages.
* :class:`VideoFolder` — real video files, one folder per class, decoded with PyAV (``[video]`` extra).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = [
    "SHAPE_CLASSES",
    "seeded_generator",
    "MovingShapes",
    "sample_clip_indices",
    "multi_view_indices",
    "spatial_crops",
    "multi_view",
    "average_scores",
    "read_video",
    "write_video",
    "VideoFolder",
]

# name -> (motion, flipped). The second class of every pair holds the first one's frames in another
# order: played backwards (for the one-way motions, up to float rounding ~1e-6), or with its two
# halves swapped (for the bounce, exactly) — so both have the same frames for the same sample.
SHAPE_CLASSES: dict[str, tuple[str, bool]] = {
    "left": ("horizontal", True),
    "right": ("horizontal", False),  # x grows over time
    "up": ("vertical", True),
    "down": ("vertical", False),  # y grows over time (image rows point down)
    "grow": ("scale", False),
    "shrink": ("scale", True),
    "rotate_cw": ("rotate", False),  # clockwise on screen (y axis points down)
    "rotate_ccw": ("rotate", True),
    "right_left": ("bounce", False),  # right during the first half of the clip, back left in the second
    "left_right": ("bounce", True),  # the same clip with its two halves swapped
}

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from integers ``(seed, index, ...)``, independent of any global state.

    Data code draws from these instead of the global torch RNG, so a sample does not depend on what
    ran before it (worker count, resumed runs, a notebook cell executed twice).
    """
    value = 0
    for key in keys:
        value = (value * 1_000_003 + int(key)) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


class MovingShapes(Dataset):
    """Synthetic clips of one soft-edged rectangle that moves, scales or rotates.

    ``dataset[i] -> (video (3, T, H, W) float32, label int)``.  Sample ``i`` is a
    pure function of ``(seed, i)`` (its own generator), so it is the same in every epoch, process
    and DataLoader worker.  Labels cycle through the classes, ``label = i % len(classes)``, so
    every class is equally frequent.

    Args:
        num_samples: length of the dataset.
        frames: ``T``, frames per clip.
        size: ``H = W`` in pixels.
        classes: names from :data:`SHAPE_CLASSES`; the default uses all eight.
        seed: different seeds give disjoint-looking datasets (use one for train, another for val).
        noise: std of the Gaussian pixel noise added to every frame.
        standardize: scale each channel of a clip to mean 0, std 1 over ``(T, H, W)``.  The shape
            covers a few percent of the pixels, so without this the random background colour
            dominates every token and a small model barely learns (the pair averages stay equal:
            time-reversed clips have the same statistics).
        paired: draw sample ``i // K`` as class ``i % K`` (``K`` classes), so that every class is
            rendered from the same shapes, colours, paths and noise — a paired test set, on which
            a model that cannot tell a pair apart scores exactly chance on it.
    """

    def __init__(
        self,
        num_samples: int,
        frames: int = 16,
        size: int = 32,
        classes: Sequence[str] | None = None,
        seed: int = 0,
        noise: float = 0.05,
        standardize: bool = True,
        paired: bool = False,
    ) -> None:
        classes = tuple(SHAPE_CLASSES) if classes is None else tuple(classes)
        unknown = [c for c in classes if c not in SHAPE_CLASSES]
        if unknown or not classes:
            raise ValueError(f"classes must be a non-empty subset of {list(SHAPE_CLASSES)}, got {classes}")
        if num_samples < 0 or frames < 2 or size < 8:
            raise ValueError(
                f"need num_samples >= 0, frames >= 2 and size >= 8, got {num_samples}, {frames}, {size}"
            )
        self.num_samples, self.frames, self.size = num_samples, frames, size
        self.class_names: tuple[str, ...] = classes
        self.seed, self.noise, self.standardize, self.paired = seed, noise, standardize, paired

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        index %= self.num_samples
        label = index % len(self.class_names)
        sample = index // len(self.class_names) if self.paired else index
        return self.render(sample, self.class_names[label]), label

    def render(self, index: int, class_name: str, noise: bool = True) -> torch.Tensor:
        """Sample ``index``'s shape, colours and path drawn as ``class_name`` -> ``(3, T, H, W)``.

        Rendering one index as both classes of a pair gives two clips with equal frame averages
        (exactly without noise): the test of "a per-frame model cannot solve this".
        """
        if class_name not in SHAPE_CLASSES:
            raise ValueError(f"class_name must be one of {list(SHAPE_CLASSES)}, got {class_name!r}")
        gen = seeded_generator(self.seed, index)
        u = torch.rand(12, generator=gen)  # all the sample's parameters, drawn in a fixed order
        T, S = self.frames, float(self.size)
        motion, flipped = SHAPE_CLASSES[class_name]
        half = T // 2
        if motion == "bounce":  # 0 -> 1 over the first half, 1 -> 0 over the second
            s = torch.cat([torch.linspace(0.0, 1.0, half), torch.linspace(1.0, 0.0, T - half)])
        else:
            s = torch.linspace(0.0, 1.0, T)  # time runs 0 -> 1 ...
            s = 1.0 - s if flipped else s  # ... or 1 -> 0 for the reversed class of the pair

        side = S * (0.15 + 0.1 * u[0])  # the shape's short side
        travel = S * (0.3 + 0.2 * u[1])  # how far it moves
        margin = side + travel / 2  # keep the whole path inside the frame
        cy = margin + (S - 2 * margin) * u[2] + torch.zeros(T)  # (T,) centre row
        cx = margin + (S - 2 * margin) * u[3] + torch.zeros(T)  # (T,) centre column
        half_h, half_w = side / 2 + torch.zeros(T), side / 2 + torch.zeros(T)  # (T,) half sizes
        angle = torch.zeros(T)
        if motion in ("horizontal", "bounce"):
            cx = cx + travel * (s - 0.5)
        elif motion == "vertical":
            cy = cy + travel * (s - 0.5)
        elif motion == "scale":
            half_h = half_w = side * (0.25 + 0.75 * s)  # a square whose side grows from 0.5x to 2x
        else:  # rotate a 3:1 bar by a quarter turn; the bar's 180° symmetry keeps it unambiguous
            half_w = 1.5 * side + torch.zeros(T)
            angle = math.pi * u[4] + (math.pi / 2) * s

        ys = torch.arange(self.size, dtype=torch.float32) + 0.5  # pixel centres
        dy = ys[None, :, None] - cy[:, None, None]  # (T, H, 1)
        dx = ys[None, None, :] - cx[:, None, None]  # (T, 1, W)
        cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
        along, across = dx * cos + dy * sin, -dx * sin + dy * cos  # (T, H, W) shape's own axes
        # soft edges (one pixel wide) so sub-pixel motion changes the pixels smoothly
        inside_w = (half_w[:, None, None] + 0.5 - along.abs()).clamp(0, 1)
        inside_h = (half_h[:, None, None] + 0.5 - across.abs()).clamp(0, 1)
        alpha = (inside_w * inside_h)[None]  # (1, T, H, W)

        background = 0.4 * u[5:8]  # dark colour
        colour = 0.6 + 0.4 * u[8:11]  # bright colour
        video = background[:, None, None, None] * (1 - alpha) + colour[:, None, None, None] * alpha
        if noise and self.noise > 0:  # drawn after the parameters: same noise for both pair members
            video = video + self.noise * torch.randn(video.shape, generator=gen)
        if self.standardize:
            mean, std = video.mean(dim=(1, 2, 3), keepdim=True), video.std(dim=(1, 2, 3), keepdim=True)
            video = (video - mean) / std.clamp_min(1e-6)
        if motion == "bounce" and flipped:  # left, then right: the first half and the second swapped
            video = video.roll(half, dims=1)
        return video.float()  # (3, T, H, W)


def sample_clip_indices(
    num_frames: int,
    clip_len: int = 32,
    stride: int = 2,
    mode: str = "random",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Frame indices of one clip, ``(clip_len,)`` long: ``start + stride * [0, 1, ..., clip_len-1]``.

    The clip spans ``(clip_len - 1) * stride + 1`` frames.  ``mode="random"`` draws the start
    uniformly (training), ``"center"`` centres the clip (validation).  A video shorter than the
    span is *looped*: indices wrap around modulo ``num_frames`` (mmaction2's ``loop`` option),
    so every clip has exactly ``clip_len`` frames and keeps its stride.
    """
    if num_frames < 1 or clip_len < 1 or stride < 1:
        raise ValueError(
            f"num_frames, clip_len and stride must be >= 1, got {num_frames}, {clip_len}, {stride}"
        )
    if mode not in ("random", "center"):
        raise ValueError(f"mode must be 'random' or 'center', got {mode!r}")
    slack = num_frames - ((clip_len - 1) * stride + 1)  # free frames around the clip
    if slack <= 0:
        start = 0
    elif mode == "center":
        start = slack // 2
    else:
        start = int(torch.randint(0, slack + 1, (1,), generator=generator))
    return (start + stride * torch.arange(clip_len)) % num_frames  # (clip_len,)


def multi_view_indices(
    num_frames: int, num_clips: int = 4, clip_len: int = 32, stride: int = 2
) -> torch.Tensor:
    """``num_clips`` uniformly spread temporal clips -> ``(num_clips, clip_len)`` frame indices.

    Clip ``k`` starts at ``floor((k + 1/2) * slack / num_clips)`` where ``slack`` is the number of
    frames left over by one clip, so the clips cover the video evenly and one clip is the centre
    clip of :func:`sample_clip_indices`.  Short videos loop as there.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    base = sample_clip_indices(num_frames, clip_len, stride, mode="center")  # validates the rest
    slack = max(num_frames - ((clip_len - 1) * stride + 1), 0)
    starts = [math.floor((k + 0.5) * slack / num_clips) for k in range(num_clips)]
    return (torch.tensor(starts)[:, None] + (base - base[0])[None, :]) % num_frames  # (num_clips, clip_len)


def spatial_crops(video: torch.Tensor, crop: int = 224, num_crops: int = 3) -> torch.Tensor:
    """Resize the shorter side to ``crop``, then take ``num_crops`` square crops along the longer side.

    ``video (C, T, H, W) -> (num_crops, C, T, crop, crop)``; with three crops they sit at the
    start, centre and end of the longer side (the paper's "3 crops" test), one crop is the centre.
    """
    if video.dim() != 4:
        raise ValueError(f"video must be (C, T, H, W), got shape {tuple(video.shape)}")
    if crop < 1 or num_crops < 1:
        raise ValueError(f"crop and num_crops must be >= 1, got {crop} and {num_crops}")
    C, T, H, W = video.shape
    scale = crop / min(H, W)
    new_h, new_w = max(crop, round(H * scale)), max(crop, round(W * scale))
    frames = video.float().permute(1, 0, 2, 3)  # (T, C, H, W): interpolate treats T as batch
    frames = F.interpolate(frames, size=(new_h, new_w), mode="bilinear", align_corners=False)
    frames = frames.permute(1, 0, 2, 3)  # (C, T, new_h, new_w)
    long_side = max(new_h, new_w)
    if num_crops == 1:
        offsets = [(long_side - crop) // 2]
    else:
        offsets = [round(k * (long_side - crop) / (num_crops - 1)) for k in range(num_crops)]
    if new_h >= new_w:  # portrait: crops go down the rows
        col = (new_w - crop) // 2
        views = [frames[..., o : o + crop, col : col + crop] for o in offsets]
    else:  # landscape: crops go along the columns
        row = (new_h - crop) // 2
        views = [frames[..., row : row + crop, o : o + crop] for o in offsets]
    return torch.stack(views)  # (num_crops, C, T, crop, crop)


def multi_view(
    video: torch.Tensor,
    num_clips: int = 4,
    num_crops: int = 3,
    clip_len: int = 32,
    stride: int = 2,
    crop: int = 224,
) -> torch.Tensor:
    """All test views of one whole video: ``(C, T_total, H, W) -> (V, C, clip_len, crop, crop)``.

    ``V = num_clips * num_crops`` views,
    clip-major: view ``k * num_crops + j`` is temporal clip ``k``, spatial crop ``j``.
    Paper: 4 x 3 views for Kinetics, 1 x 3 for Something-Something v2.
    """
    if video.dim() != 4:
        raise ValueError(f"video must be (C, T, H, W), got shape {tuple(video.shape)}")
    clips = multi_view_indices(video.shape[1], num_clips, clip_len, stride)  # (num_clips, clip_len)
    views = [spatial_crops(video[:, idx], crop, num_crops) for idx in clips]  # num_clips x (nc, C, T', c, c)
    return torch.cat(views)  # (num_clips * num_crops, C, clip_len, crop, crop)


def average_scores(logits_per_view: torch.Tensor, mode: str = "softmax") -> torch.Tensor:
    """Average the class scores of all views: ``(V, K) -> (K,)`` or ``(B, V, K) -> (B, K)``.

    ``mode="softmax"`` averages probabilities (the official test pipeline), ``"logits"`` averages
    raw logits.  The argmax usually agrees; probabilities keep one over-confident view from
    dominating.
    """
    if logits_per_view.dim() not in (2, 3):
        raise ValueError(f"logits_per_view must be (V, K) or (B, V, K), got {tuple(logits_per_view.shape)}")
    if mode == "softmax":
        return logits_per_view.softmax(dim=-1).mean(dim=-2)
    if mode == "logits":
        return logits_per_view.mean(dim=-2)
    raise ValueError(f"mode must be 'softmax' or 'logits', got {mode!r}")


def _import_av():
    try:
        import av
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading video files needs PyAV: pip install 'vswin-edu[video]' (or pip install av)"
        ) from err
    return av


def read_video(path: str | Path) -> torch.Tensor:
    """Decode every frame of a video file with PyAV -> ``(T, H, W, 3)`` uint8 RGB."""
    av = _import_av()
    with av.open(str(path)) as container:
        frames = [torch.from_numpy(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"no video frames could be decoded from {path}")
    return torch.stack(frames)  # (T, H, W, 3)


def write_video(path: str | Path, frames: torch.Tensor, fps: int = 10, codec: str = "mpeg4") -> None:
    """Encode ``(T, H, W, 3)`` uint8 RGB frames into a video file with PyAV (H and W even for most codecs)."""
    av = _import_av()
    if frames.dim() != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.pix_fmt = "yuv420p"
        for frame in frames.numpy():
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())  # flush the encoder


class VideoFolder(Dataset):
    """Real videos stored as ``root/<class name>/<video file>`` -> ``(video (3, clip_len, H, W), label)``.

    Class names are the sorted folder names (``class_names``); ``videos`` lists ``(path, label)``.
    Each item decodes its file with PyAV, samples one clip with :func:`sample_clip_indices` and
    scales pixels to ``[0, 1]``.  In ``"random"`` mode the clip start comes from a generator seeded
    by ``(seed, epoch, index)`` — deterministic whatever the worker count; call
    :meth:`set_epoch` to draw new clips each epoch.  ``transform`` is applied to the float clip.
    """

    def __init__(
        self,
        root: str | Path,
        clip_len: int = 32,
        stride: int = 2,
        mode: str = "random",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"root must be a directory of class folders, got {root}")
        if mode not in ("random", "center"):
            raise ValueError(f"mode must be 'random' or 'center', got {mode!r}")
        self.class_names = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
        self.videos = [
            (path, label)
            for label, name in enumerate(self.class_names)
            for path in sorted((root / name).iterdir())
            if path.suffix.lower() in VIDEO_EXTENSIONS
        ]
        if not self.videos:
            raise ValueError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in class folders under {root}")
        _import_av()  # fail now, with the install hint, rather than inside a DataLoader worker
        self.clip_len, self.stride, self.mode = clip_len, stride, mode
        self.transform, self.seed, self.epoch = transform, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.videos[index]
        frames = read_video(path)  # (T, H, W, 3) uint8
        gen = seeded_generator(self.seed, self.epoch, index)
        idx = sample_clip_indices(len(frames), self.clip_len, self.stride, self.mode, generator=gen)
        video = frames[idx].permute(3, 0, 1, 2).float() / 255.0  # (3, clip_len, H, W)
        if self.transform is not None:
            video = self.transform(video)
        return video, label
