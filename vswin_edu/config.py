"""The configuration of a Video Swin Transformer and the paper's presets (Table 1; chapters 8-9).

One frozen dataclass holds everything that defines a model; :data:`PRESETS` holds the paper's
Swin-T/S/B/L and a teaching size.  The model (:mod:`vswin_edu.model`), the complexity counts, the
checkpoint converters and the training CLI all read the configuration from here, so this module
imports nothing of the library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

ATTENTION_KINDS = ("joint", "factorised")


@dataclass(frozen=True)
class VideoSwinConfig:
    """Everything that defines a Video Swin Transformer; the builders read it from ``PRESETS``."""

    patch_size: tuple[int, int, int] = (2, 4, 4)  # 3D patch (time, height, width)
    embed_dim: int = 96  # C: channels of stage 1, doubled by every patch merging
    depths: tuple[int, ...] = (2, 2, 6, 2)  # blocks per stage (always even: W-MSA, SW-MSA pairs)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)  # heads per stage; head dim 32 in the paper
    window_size: tuple[int, int, int] = (8, 7, 7)  # (P, M, M); (16, 7, 7) for SSv2
    mlp_ratio: float = 4.0  # MLP hidden width / C
    qkv_bias: bool = True
    drop_rate: float = 0.0  # dropout after attention projection and in the MLP
    attn_drop_rate: float = 0.0  # dropout on attention weights
    drop_path_rate: float = 0.1  # stochastic depth, linearly increasing from 0 to this
    head_dropout: float = 0.5  # dropout before the classifier (the official I3D head)
    num_classes: int = 400  # Kinetics-400
    in_chans: int = 3
    patch_norm: bool = True  # LayerNorm after the patch embedding (official configs, torchvision)
    checkpoint_stages: tuple[bool, ...] = field(default=())  # activation checkpointing per stage
    # ablations (paper Sec. 4.3, Tables 4-6; chapter 12):
    shift_size: tuple[int, int, int] | None = None  # odd blocks' shift; None: (P/2, M/2, M/2)
    attention: str = "joint"  # "joint" (P, M, M) windows, or "factorised": (1, M, M) then (P, 1, 1)
    # False: every block runs the readable steps the chapters teach (vswin_edu.block); True: the
    # optimised route of vswin_edu.fast — the same numbers, about twice as fast (appendix 14)
    fast: bool = False

    def __post_init__(self) -> None:
        """Validate every field once, so every way of building a model (builders, ``build``,
        ``VideoSwinTransformer(...)``, ``load``) gets the same errors: each names the field, the
        allowed range and the value.  Sizes given as one int or a list are stored as tuples."""
        norm = {
            "patch_size": _size3(self.patch_size, "patch_size"),
            "window_size": _size3(self.window_size, "window_size"),
            "depths": _positive_ints(self.depths, "depths", "blocks per stage"),
            "num_heads": _positive_ints(self.num_heads, "num_heads", "heads per stage"),
            "checkpoint_stages": _bools(self.checkpoint_stages, "checkpoint_stages"),
        }
        if self.shift_size is not None:
            norm["shift_size"] = _size3(self.shift_size, "shift_size", zero_ok=True)
        for name, value in norm.items():
            object.__setattr__(self, name, value)  # frozen: normalise in place, once
        for name in ("embed_dim", "num_classes", "in_chans"):
            _positive_int(getattr(self, name), name)
        for name in ("qkv_bias", "patch_norm", "fast"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("drop_rate", "attn_drop_rate", "drop_path_rate", "head_dropout"):
            _probability(getattr(self, name), name)
        ratio = self.mlp_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, Real):
            raise TypeError(f"mlp_ratio must be a number (MLP hidden width / C), got {ratio!r}")
        if not (math.isfinite(ratio) and int(self.embed_dim * ratio) >= 1):
            raise ValueError(
                f"mlp_ratio must be > 0 and give an MLP of at least one unit (embed_dim * mlp_ratio >= 1), "
                f"got {ratio!r}"
            )
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {self.attention!r}")
        if len(self.depths) != len(self.num_heads):
            raise ValueError(
                f"depths and num_heads must have one entry per stage, got depths={self.depths} "
                f"and num_heads={self.num_heads}"
            )
        for i, heads in enumerate(self.num_heads):
            dim = self.embed_dim * 2**i
            if dim % heads:
                raise ValueError(
                    f"num_heads[{i}] ({heads}) must divide stage {i + 1}'s channels "
                    f"(embed_dim * 2^{i} = {dim}); got num_heads={self.num_heads}, embed_dim={self.embed_dim}"
                )
        if self.checkpoint_stages and len(self.checkpoint_stages) != len(self.depths):
            raise ValueError(
                f"checkpoint_stages must have one bool per stage ({len(self.depths)}), "
                f"got {self.checkpoint_stages}"
            )
        if self.shift_size is not None:
            for axis, w, s in zip("DHW", self.window_size, self.shift_size, strict=True):
                if s >= w:
                    raise ValueError(
                        f"shift_size must be smaller than window_size on every axis, got shift "
                        f"{self.shift_size} for window {self.window_size} (axis {axis})"
                    )


# Field checks (this module imports nothing of the library, so they are not vswin_edu._checks').


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def _positive_int(value: Any, name: str) -> int:
    value = _int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value}")
    return value


def _size3(value: Any, name: str, zero_ok: bool = False) -> tuple[int, int, int]:
    """``k`` or three ints -> ``(k, k, k)`` / a tuple; positive (non-negative with ``zero_ok``)."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value, value, value)
    if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be an int or a sequence of 3 ints (D, H, W), got {value!r}")
    if len(value) != 3:
        raise ValueError(f"{name} must have 3 entries (D, H, W), got {len(value)}: {tuple(value)}")
    if any(isinstance(v, bool) or not isinstance(v, Integral) for v in value):
        raise TypeError(f"{name} must hold ints, got {tuple(value)}")
    out = tuple(int(v) for v in value)
    if any(v < (0 if zero_ok else 1) for v in out):
        kind = "non-negative" if zero_ok else "positive"
        raise ValueError(f"{name} must be {kind} on every axis, got {out}")
    return out  # type: ignore[return-value]


def _positive_ints(value: Any, name: str, what: str) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) == 0:
        raise TypeError(f"{name} must be a non-empty sequence of ints ({what}), got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, Integral) for v in value):
        raise TypeError(f"{name} must hold ints ({what}), got {tuple(value)}")
    if any(v < 1 for v in value):
        raise ValueError(f"{name} must be >= 1 on every stage ({what}), got {tuple(value)}")
    return tuple(int(v) for v in value)


def _bools(value: Any, name: str) -> tuple[bool, ...]:
    if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence of bools (one per stage), got {value!r}")
    if any(not isinstance(v, bool) for v in value):
        raise TypeError(f"{name} must hold bools (one per stage), got {tuple(value)}")
    return tuple(value)


def _probability(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


# The paper's configurations (Table 1; drop-path as in the official Kinetics-400 configs).
PRESETS: dict[str, VideoSwinConfig] = {
    "t": VideoSwinConfig(
        embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.1
    ),  # 28.2M params, 88 GMACs at 32x224^2
    "s": VideoSwinConfig(
        embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.1
    ),  # 49.8M params, 166 GMACs
    "b": VideoSwinConfig(
        embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), drop_path_rate=0.3
    ),  # 88.1M params, 282 GMACs (0.2 from IN-22K)
    "l": VideoSwinConfig(
        embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), drop_path_rate=0.2
    ),  # 197M params, 604 GMACs at 32x224^2
    # Teaching size: 8x8x8 tokens for a 16x32x32 clip, two stages, ~0.3M params.
    "micro": VideoSwinConfig(
        embed_dim=48,
        depths=(2, 2),
        num_heads=(3, 6),
        window_size=(4, 4, 4),
        drop_path_rate=0.0,
        head_dropout=0.0,
        num_classes=8,
    ),
}
