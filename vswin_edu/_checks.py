"""Small input checks shared by the library: errors that name the argument, expected and actual.

The library validates *public* inputs with ``ValueError``/``TypeError`` (never ``assert``, which
vanishes under ``python -O``) so that a learner's mistake is explained where it happens.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch


def triple(value: int | Sequence[int], name: str) -> tuple[int, int, int]:
    """Return ``value`` as a tuple of three positive ints (``(P, M, M)``-style sizes).

    An int ``k`` is read as ``(k, k, k)``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a sequence of 3 ints, got {value!r}")
    if isinstance(value, int):
        value = (value, value, value)
    if isinstance(value, torch.Size):
        value = tuple(value)
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"{name} must be an int or a sequence of 3 ints, got {type(value).__name__}")
    if len(value) != 3:
        raise ValueError(f"{name} must have 3 entries (D, H, W), got {len(value)}: {tuple(value)}")
    out = []
    for v in value:
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must hold ints, got {tuple(value)}")
        out.append(v)
    if any(v <= 0 for v in out):
        raise ValueError(f"{name} must be positive on every axis, got {tuple(out)}")
    return out[0], out[1], out[2]


def shift_triple(value: int | Sequence[int], name: str = "shift_size") -> tuple[int, int, int]:
    """Like :func:`triple` but zero is allowed (no shift on that axis)."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0, 0, 0
    if (
        isinstance(value, Sequence)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        return int(value[0]), int(value[1]), int(value[2])
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) != 3:
        raise ValueError(f"{name} must have 3 entries (D, H, W), got {len(value)}: {tuple(value)}")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value, value
    raise ValueError(f"{name} must be 3 non-negative ints, got {value!r}")


def check_shift(window_size: Sequence[int], shift_size: Sequence[int]) -> None:
    """Raise ``ValueError`` unless the shift is smaller than the window on every axis."""
    for axis, w, s in zip("DHW", window_size, shift_size, strict=True):
        if s >= w:
            raise ValueError(
                f"shift_size must be smaller than window_size on every axis, got shift {tuple(shift_size)} "
                f"for window {tuple(window_size)} (axis {axis})"
            )


def check_tokens(x: torch.Tensor, name: str = "x", channels: int | None = None) -> None:
    """Check a channels-last token grid ``(B, D, H, W, C)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 5:
        raise ValueError(
            f"{name} must be a channels-last token grid (B, D, H, W, C) with 5 dims, "
            f"got {x.dim()} dims with shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(
            f"{name} must have C={channels} channels in its last dim, "
            f"got shape {tuple(x.shape)} (C={x.shape[-1]})"
        )


def check_video(
    video: torch.Tensor, name: str = "video", channels: int | None = 3, floating: bool = False
) -> None:
    """Check a video batch ``(B, 3, T, H, W)`` (channels first, like torchvision).

    T, H and W must be at least 1 (a batch of ``B = 0`` clips is fine: the model returns
    ``(0, num_classes)`` like torchvision).  ``floating``: the video goes into a layer, so it must be
    a floating-point tensor (a uint8 video straight from a decoder is not).
    """
    if not isinstance(video, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(video).__name__}")
    if video.dim() != 5:
        raise ValueError(
            f"{name} must have shape (B, {channels or 'C'}, T, H, W) with 5 dims, "
            f"got {video.dim()} dims with shape {tuple(video.shape)}"
        )
    if channels is not None and video.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channels in dim 1, (B, {channels}, T, H, W), "
            f"got shape {tuple(video.shape)}"
        )
    if any(n == 0 for n in video.shape[2:]):
        raise ValueError(
            f"{name} must have at least one frame and one pixel: T, H, W >= 1 in (B, C, T, H, W), "
            f"got shape {tuple(video.shape)}"
        )
    if floating and not video.is_floating_point():
        fix = (
            "video.float() / 255 (uint8 pixels to [0, 1])" if video.dtype == torch.uint8 else "video.float()"
        )
        raise TypeError(
            f"{name} must be floating point, got dtype {video.dtype}: call {fix}, or load clips with "
            "vswin_edu.data (MovingShapes, VideoFolder), which yield float videos"
        )


def check_model_input(video: torch.Tensor, weight: torch.Tensor, name: str = "video") -> None:
    """The video must live where the model's weights live and (outside autocast) share their dtype."""
    if video.device != weight.device:
        raise ValueError(
            f"{name} is on device {video.device} but the model is on device {weight.device}: "
            f"move one of them, e.g. video.to({str(weight.device)!r}) or model.to({str(video.device)!r})"
        )
    if video.dtype != weight.dtype and not torch.is_autocast_enabled(video.device.type):
        raise TypeError(
            f"{name} has dtype {video.dtype} but the model's weights are {weight.dtype}: call "
            f"video.to({weight.dtype}) (video.float() for float32 weights), or run under torch.autocast"
        )


def check_torch_file(path: str | os.PathLike) -> None:
    """Raise ``ValueError`` unless ``path`` starts like a file written by ``torch.save``.

    ``torch.save`` writes a zip archive (``PK\\x03\\x04``); files of the legacy format start with a
    pickle (``\\x80`` and the protocol, 2 to 5).  Anything else — random bytes, a text file, an
    empty file — gets a plain "not a PyTorch checkpoint" instead of ``torch.load``'s advice about
    ``weights_only=False``.
    """
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise ValueError(
            f"{os.fspath(path)!r} is not a readable PyTorch checkpoint: the file is empty, not a PyTorch "
            "checkpoint (an interrupted download?)"
        )
    legacy = head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")  # pickle 2-5
    if head != b"PK\x03\x04" and not legacy:
        raise ValueError(
            f"{os.fspath(path)!r} is not a readable PyTorch checkpoint: it is not a PyTorch checkpoint at "
            f"all (it starts with bytes {head!r}; files written by torch.save start with b'PK\\x03\\x04', "
            "a zip archive)"
        )


def parse_sizes(text: str, name: str, layout: str, example: str) -> tuple[int, ...]:
    """``"4x3"``-style text -> ``(4, 3)``: as many positive ints as ``layout`` (``"CLIPSxCROPS"``) has
    parts, separated by ``x``; otherwise a ``ValueError`` naming ``name``, the layout and ``example``."""
    parts = text.lower().split("x")
    if len(parts) != len(layout.split("x")) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"{name} must be {layout} with positive integers, like {example}; got {text!r}")
    return tuple(int(p) for p in parts)


def parse_input_shape(text: str) -> tuple[int, int, int, int, int]:
    """``"1x3x16x224x224"`` -> ``(1, 3, 16, 224, 224)``; a clear error otherwise."""
    return parse_sizes(text, "--input", "BxCxTxHxW", "1x3x16x224x224")  # type: ignore[return-value]
