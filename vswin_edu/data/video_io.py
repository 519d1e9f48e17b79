"""Real video files: decode and encode with PyAV, and a folder-per-class dataset
(paper Sec. 4.1: Kinetics-400/600 and Something-Something v2 ship as video files; chapter 11).

* :func:`read_video` / :func:`write_video` — ``(T, H, W, 3)`` uint8 RGB frames from / to a file.
* :func:`count_frames` / :func:`read_frames` — only the frames a clip sampler picked (inference,
  :mod:`vswin_edu.predict`): PyAV decodes up to the last of them; the optional TorchCodec
  backend (``pip install torchcodec`` and FFmpeg's shared libraries) seeks to each one.
* :class:`VideoFolder` — ``root/<class name>/<video file>``, one training clip per item, sampled
  with :func:`~vswin_edu.data.sampling.sample_clip_indices` (``python -m vswin_edu.train
  --dataset folder``).

PyAV is the ``[video]`` extra (``pip install 'vswin-edu[video]'``); it is imported only when a
file is read or written, so the rest of :mod:`vswin_edu.data` works without it.  TorchCodec is
imported only by ``backend="torchcodec"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from .sampling import sample_clip_indices, seeded_generator

__all__ = [
    "VIDEO_EXTENSIONS",
    "BACKENDS",
    "read_video",
    "write_video",
    "write_video_folder",
    "count_frames",
    "read_frames",
    "VideoFolder",
]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")
BACKENDS = ("pyav", "torchcodec")  # decoders read_frames can use


def _import_av():
    try:
        import av
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading video files needs PyAV: pip install 'vswin-edu[video]' (or pip install av)"
        ) from err
    return av


def _import_torchcodec():
    """TorchCodec's ``VideoDecoder``, or an ``ImportError`` that names what is missing."""
    try:
        import torchcodec
        from torchcodec.decoders import VideoDecoder
    except ImportError as err:
        raise ImportError("the torchcodec backend needs TorchCodec: pip install torchcodec") from err
    if torchcodec.ffmpeg_major_version is None:  # TorchCodec loads FFmpeg's libraries on import
        raise ImportError(
            "TorchCodec is installed but found none of FFmpeg's shared libraries (libavutil, libavcodec, "
            "libavformat, libswscale of FFmpeg 4 to 8): install them (Debian: apt-get install ffmpeg; "
            "conda: conda install ffmpeg) or use backend='pyav'"
        )
    return VideoDecoder


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def _open_pyav(path: str | Path):
    """An open PyAV container with a video stream; errors name the file and what is wrong with it."""
    av = _import_av()
    if not Path(path).is_file():
        raise FileNotFoundError(f"no video file at {str(path)!r}")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise ValueError(f"{str(path)!r} is not a video file PyAV can read: {err}") from err
    if not container.streams.video:
        container.close()
        raise ValueError(f"{str(path)!r} has no video stream")
    return container


def _open_torchcodec(path: str | Path):
    VideoDecoder = _import_torchcodec()
    if not Path(path).is_file():
        raise FileNotFoundError(f"no video file at {str(path)!r}")
    try:
        return VideoDecoder(str(path), dimension_order="NHWC")
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{str(path)!r} is not a video file TorchCodec can read: {err}") from err


def _pyav_frames(path: str | Path, stop: int | None = None) -> Iterator[torch.Tensor]:
    """The first ``stop`` frames (all if None) of a file, decoded one by one -> ``(H, W, 3)`` uint8."""
    with _open_pyav(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if stop is not None and i >= stop:
                return
            yield torch.from_numpy(frame.to_ndarray(format="rgb24"))


def read_video(path: str | Path) -> torch.Tensor:
    """Decode every frame of a video file with PyAV -> ``(T, H, W, 3)`` uint8 RGB."""
    frames = list(_pyav_frames(path))
    if not frames:
        raise ValueError(f"no video frames could be decoded from {path}")
    return torch.stack(frames)  # (T, H, W, 3)


def count_frames(path: str | Path, backend: str = "pyav") -> int:
    """How many frames a video file holds, without decoding them.

    PyAV: the container's count, or the number of packets when the container does not say (one
    packet per frame); TorchCodec: its exact count from a scan of the file.
    """
    _check_backend(backend)
    if backend == "torchcodec":
        return int(_open_torchcodec(path).metadata.num_frames)
    with _open_pyav(path) as container:
        stream = container.streams.video[0]
        count = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
    if count < 1:
        raise ValueError(f"{str(path)!r} holds no video frames")
    return count


def read_frames(
    path: str | Path, indices: torch.Tensor, backend: str = "pyav", progress: bool = False
) -> torch.Tensor:
    """The frames at ``indices`` (any order, repeats allowed) -> ``(len(indices), H, W, 3)`` uint8 RGB.

    Only what the indices need is decoded: PyAV decodes from the start up to the last wanted frame
    (later frames are never touched); TorchCodec seeks to each wanted frame.  ``progress`` shows a
    bar on stderr.
    """
    _check_backend(backend)
    wanted, inverse = torch.as_tensor(indices).flatten().unique(return_inverse=True)  # sorted
    if wanted.numel() == 0 or wanted[0] < 0:
        raise ValueError(f"indices must be non-negative frame numbers, got {indices}")
    if backend == "torchcodec":
        decoder = _open_torchcodec(path)
        chunks = tqdm(wanted.split(32), desc="decoding", unit="chunk", disable=not progress)
        frames = torch.cat([decoder.get_frames_at(indices=c.tolist()).data for c in chunks])
    else:
        stop, keep = int(wanted[-1]) + 1, set(wanted.tolist())
        bar = tqdm(_pyav_frames(path, stop), total=stop, desc="decoding", unit="frame", disable=not progress)
        frames = [frame for i, frame in enumerate(bar) if i in keep]
        if len(frames) < len(keep):
            raise ValueError(
                f"{str(path)!r}: frame {stop - 1} was asked for, but fewer frames decode (the "
                "container may count more frames than it holds)"
            )
        frames = torch.stack(frames)  # (len(wanted), H, W, 3)
    return frames[inverse]  # (len(indices), H, W, 3)


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


def write_video_folder(
    dataset: Dataset, root: str | Path, indices: Sequence[int] | None = None, fps: int = 10
) -> Path:
    """Write clips of a dataset as ``root/<class name>/clip<i>.mp4``: a folder :class:`VideoFolder` reads.

    ``dataset[i]`` is ``(video, label)`` with ``video`` ``(3, T, H, W)`` in ``[0, 1]`` (e.g.
    :class:`~vswin_edu.data.synthetic.MovingShapes` with ``standardize=False``) and
    ``dataset.class_names`` names the labels.  Returns ``root``.
    """
    root = Path(root)
    for i in range(len(dataset)) if indices is None else indices:
        video, label = dataset[i]
        folder = root / dataset.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        frames = (video.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 3, 0)  # (T, H, W, 3)
        write_video(folder / f"clip{i}.mp4", frames, fps=fps)
    return root


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
