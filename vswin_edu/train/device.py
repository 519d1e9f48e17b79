"""Device choice: ``"auto"`` is CUDA when available, else CPU — no code change between them."""

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
