"""Chapter 0 exercises: video tensors and clip sampling (paper Sec. 4.1, "Implementation details").

0.1  decoded frames ``(T, H, W, 3)`` uint8 -> a model-ready clip ``(1, 3, T, H, W)`` float in [0, 1]
0.2  the frame indices of a clip of ``num_frames`` frames taken every ``stride`` frames
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ._core import Mismatch, exercise


def _frames(T: int, H: int, W: int) -> torch.Tensor:
    """Decoded frames ``(T, H, W, 3)`` uint8 whose every pixel value is distinct modulo 256."""
    return (torch.arange(T * H * W * 3) % 251).to(torch.uint8).view(T, H, W, 3)  # (T, H, W, 3)


def _layout_cause(got: tuple[int, ...], T: int, H: int, W: int) -> str:
    """Name the layout a wrong shape corresponds to, for the known mix-ups."""
    known = {
        (1, T, 3, H, W): "(B, T, C, H, W) — time and channels swapped (the layout of 2D-video code "
        "and of some dataloaders); the 3D model wants channels before time",
        (1, T, H, W, 3): "(B, T, H, W, C) — channels-last frames with a batch axis but no permute",
        (3, T, H, W): "(C, T, H, W) — right order but no batch axis; add it with unsqueeze(0)",
        (1, 3, H, W, T): "(B, C, H, W, T) — time moved to the end instead of before H and W",
    }
    return known.get(got, "a layout the model cannot read")


@exercise(
    "0.1",
    "frames (T, H, W, 3) uint8 -> clip (1, 3, T, H, W) float in [0, 1]",
    hints=[
        "Video decoders (PyAV, torchvision.io) give frames channels-last, (T, H, W, 3), as uint8 "
        "0..255. The model wants (B, C, T, H, W) floats: move the channel axis to the front with "
        "permute (not view/reshape), then add a batch axis.",
        "frames.permute(3, 0, 1, 2) is (3, T, H, W); .unsqueeze(0) makes it (1, 3, T, H, W); "
        ".float() / 255 scales it to [0, 1].",
    ],
    solution=(
        "def to_clip(frames):\n"
        "    clip = frames.permute(3, 0, 1, 2).unsqueeze(0)  # (1, 3, T, H, W)\n"
        "    return clip.float() / 255"
    ),
)
def check_to_clip(to_clip: Callable[[torch.Tensor], torch.Tensor]) -> str:
    T, H, W = 4, 5, 6  # all different (and not 3), so that any mix-up of axes shows in the shape
    frames = _frames(T, H, W)
    expected = frames.permute(3, 0, 1, 2).unsqueeze(0).float() / 255  # (1, 3, T, H, W)
    got = to_clip(frames.clone())
    tested = f"tested on frames of shape (T, H, W, 3) = {tuple(frames.shape)}, dtype uint8"
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"{tested}.\nExpected a torch.Tensor, got {type(got).__name__}.")
    if tuple(got.shape) != tuple(expected.shape):
        raise Mismatch(
            f"{tested}.\nExpected shape (B, C, T, H, W) = {tuple(expected.shape)}, got {tuple(got.shape)}.\n"
            f"Your layout looks like {_layout_cause(tuple(got.shape), T, H, W)}."
        )
    if not got.is_floating_point():
        raise Mismatch(
            f"{tested}.\nExpected a float tensor, got dtype {got.dtype}.\n"
            "Likely cause: the uint8 frames were not converted; use .float() (and divide by 255)."
        )
    if got.max() > 1.0:
        raise Mismatch(
            f"{tested}.\nExpected values in [0, 1], got a maximum of {got.max().item():g}.\n"
            "Likely cause: the 0..255 pixel values were converted to float but not divided by 255."
        )
    wrong = (got - expected).abs() > 1e-6
    if wrong.any():
        b, c, t, h, w = (int(i) for i in wrong.nonzero()[0])
        cause = (
            "the shape is right but the pixels are scrambled: view/reshape keeps the memory order, "
            "so it cannot move the channel axis. Use permute."
        )
        raise Mismatch(
            f"{tested}.\nFirst wrong value at (b, c, t, h, w) = {(b, c, t, h, w)}: expected "
            f"{expected[b, c, t, h, w].item():.4f} (frame {t}, pixel ({h}, {w}), channel {c}), "
            f"got {got[b, c, t, h, w].item():.4f}.\nLikely cause: {cause}"
        )
    return f"shape {tuple(got.shape)}, dtype {got.dtype}, values in [0, 1], pixels in place."


def _expected_indices(start: int, num_frames: int, stride: int) -> list[int]:
    return [start + i * stride for i in range(num_frames)]


@exercise(
    "0.2",
    "frame indices of a clip: num_frames frames, one every stride frames",
    hints=[
        "A clip of 32 frames with temporal stride 2 takes every second frame: start, start + 2, ..., "
        "start + 62. The 32 frames reach over 63 frames of the video.",
        "The i-th sampled frame is start + i * stride for i in range(num_frames); "
        "range(start, start + num_frames * stride, stride) gives the same list.",
    ],
    solution=(
        "def sample_indices(start, num_frames, stride):\n"
        "    return [start + i * stride for i in range(num_frames)]"
    ),
)
def check_sample_indices(sample_indices: Callable[[int, int, int], Sequence[int]]) -> str:
    cases = [(0, 4, 2), (5, 3, 3), (0, 32, 2), (10, 32, 2), (7, 1, 4)]  # smallest first
    for start, num_frames, stride in cases:
        expected = _expected_indices(start, num_frames, stride)
        raw = sample_indices(start, num_frames, stride)
        try:
            got = [int(i) for i in (raw.tolist() if isinstance(raw, torch.Tensor) else raw)]
        except TypeError as err:
            raise Mismatch(f"Expected a list of ints, got {type(raw).__name__}.") from err
        if got == expected:
            continue
        tested = f"sample_indices(start={start}, num_frames={num_frames}, stride={stride})"
        lines = [f"{tested}: expected {expected}, got {got}."]
        if got == list(range(start, start + num_frames, stride)):
            lines.append(
                f"Likely cause: range(start, start + num_frames, stride) gives only "
                f"{len(got)} frames. {num_frames} frames taken every {stride} frames reach from start "
                f"to start + {(num_frames - 1) * stride}: stop the range at start + num_frames * stride."
            )
        elif got == _expected_indices(0, num_frames, stride):
            lines.append("Likely cause: the clip does not begin at `start`; add start to every index.")
        elif len(got) != num_frames:
            lines.append(f"The clip must hold exactly num_frames = {num_frames} frames, got {len(got)}.")
        elif got == _expected_indices(start, num_frames, 1):
            lines.append("Likely cause: the stride is ignored; consecutive frames were taken.")
        raise Mismatch("\n".join(lines))
    return (
        "e.g. 32 frames with stride 2 from frame 0 are 0, 2, ..., 62 (63 frames of the video), "
        "and 2-frame patches turn the 32 frames into 16 temporal tokens."
    )
