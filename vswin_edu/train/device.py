"""Device choice: ``"auto"`` is CUDA when available, else CPU — no code change between them; and
``--amp auto``: bf16 where this device has bf16 matrix units, else fp32."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else as ``torch.device``.

    A CUDA device that this machine does not have is an error here, before any work starts.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device (--device) is {name!r} but CUDA is not available on this machine; "
                "use --device cpu or auto"
            )
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device (--device) is {name!r} but this machine has {count} CUDA device(s): "
                f"cuda:0 .. cuda:{count - 1}"
            )
    return device


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 matrix multiplies beat fp32 ones on ``device``.

    True on a CUDA GPU with bf16 support (Ampere and later) and on a CPU with AMX or AVX-512-BF16,
    where oneDNN's bf16 kernels run (measured on an AMX Xeon: ``F.linear`` ~5x its fp32 speed).
    Elsewhere bf16 is emulated and *slower*: on an AVX2 CPU (AMD EPYC, 2 threads) Swin-T's linear
    layers reach 0.013 TFLOP/s in bf16 against ~0.04 in fp32, and a bf16 forward takes 3x as long.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    return False


def resolve_amp(amp: str | None, device: torch.device) -> str | None:
    """``"auto"`` -> ``"bf16"`` where :func:`bf16_is_fast`, else ``None`` (fp32); anything else as is."""
    if amp != "auto":
        return amp
    return "bf16" if bf16_is_fast(device) else None
