"""vswin_edu — the Video Swin Transformer (Liu et al., CVPR 2022), one concept per module.

Shape glossary (used in every docstring and shape comment of the library)
-------------------------------------------------------------------------
``B``          batch size
``T, H, W``    frames, height, width of the *video* entering the model, ``(B, 3, T, H, W)``
``D, H, W``    the *token grid* after the 3D patch partition (``D = T / 2``, ``H = H / 4`` ...)
``C``          channels of a token (96 for Swin-T after the linear embedding)
``(P, M, M)``  the 3D window, also written ``(wd, wh, ww)``; ``N = wd * wh * ww`` tokens per window
``(sd, sh, sw)`` the shift of a shifted-window block, ``(P/2, M/2, M/2)`` in the paper
``nW``         number of windows, ``nH`` heads, ``d = C / nH`` channels per head

Inside the blocks tokens are channels-last, ``(B, D, H, W, C)``; the video is converted once at
the stem (:class:`vswin_edu.patch.PatchEmbed3D`).

Concept modules (each names the chapter that teaches it)::

    patch      3D patch partition and linear embedding            (Sec. 3.1, chapter 1)
    windows    window partition / reverse, effective windows      (Sec. 3.2, chapter 3)
    shift      cyclic shift, region ids, shifted-window masks     (Sec. 3.2, chapters 4-5)
    geometry   where each token goes: window ids, rolled <-> original positions (chapters 3-5)
    relpos     3D relative position bias                          (Sec. 3.2 Eq. 1, chapter 6)
    attention  window multi-head self-attention (W-MSA / SW-MSA)  (Sec. 3.2 Eq. 1, chapter 7)
    block      the Video Swin Transformer block, as named steps   (Sec. 3.2, chapter 7)
    merging    patch merging                                      (Sec. 3.1, chapter 8)
    config     VideoSwinConfig and the Swin-T/S/B/L presets       (Sec. 3.3, Table 1)
    model      the four-stage model and its builders              (Sec. 3.3, chapters 8-9)

Using a trained model: ``weights`` (named pretrained weights with their ``transforms`` preset and
metadata, torchvision-style), ``predict`` (``vswin_edu.predict(model, "video.mp4")`` and
``python -m vswin_edu.predict``), ``export`` (``torch.export`` and ONNX).

``fast`` holds every optimisation of the model in one place (appendix 14); a model built with
``fast=True`` runs it instead of the readable steps, with the same numbers.  Which module may
import which: ``docs/ARCHITECTURE.md``.

Importing the package is cheap: submodules are imported on first use, and the model never
imports matplotlib or ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "patch",
    "windows",
    "shift",
    "geometry",
    "relpos",
    "attention",
    "block",
    "merging",
    "config",
    "model",
    "fast",
    "reference",
    "complexity",
    "convert",
    "data",
    "train",
    "bench",
    "export",
    "transforms",
    "weights",
    "predict",
    "viz",
    "widgets",
    "exercises",
    "style",
)


def load(path: Any, **kwargs: Any) -> Any:
    """Load a checkpoint file of any supported layout (ours, torchvision, official, 2D Swin) as a model.

    See :func:`vswin_edu.convert.load`; files are read with ``torch.load(..., weights_only=True)``.
    """
    from .convert import load as _load

    return _load(path, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
