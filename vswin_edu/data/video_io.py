"""Real video files: decode and encode with PyAV, and a folder-per-class dataset
(paper Sec. 4.1: Kinetics-400/600 and Something-Something v2 ship as video files; chapter 11).

* :func:`read_video` / :func:`write_video` — ``(T, H, W, 3)`` uint8 RGB frames from / to a file.
* :class:`VideoFolder` — ``root/<class name>/<video file>``, one training clip per item, sampled
  with :func:`~vswin_edu.data.sampling.sample_clip_indices` (``python -m vswin_edu.train
  --dataset folder``).

PyAV is the ``[video]`` extra (``pip install 'vswin-edu[video]'``); it is imported only when a
file is read or written, so the rest of :mod:`vswin_edu.data` works without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .sampling import sample_clip_indices, seeded_generator

__all__ = ["VIDEO_EXTENSIONS", "read_video", "write_video", "VideoFolder"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


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
