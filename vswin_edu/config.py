"""The configuration of a Video Swin Transformer and the paper's presets (Table 1; chapters 8-9).

One frozen dataclass holds everything that defines a model; :data:`PRESETS` holds the paper's
Swin-T/S/B/L and a teaching size.  The model (:mod:`vswin_edu.model`), the complexity counts, the
checkpoint converters and the training CLI all read the configuration from here, so this module
imports nothing of the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    # ablations (paper Sec. 4.3, Tables 4-6; chapter 11):
    shift_size: tuple[int, int, int] | None = None  # odd blocks' shift; None: (P/2, M/2, M/2)
    attention: str = "joint"  # "joint" (P, M, M) windows, or "factorised": (1, M, M) then (P, 1, 1)
    # False: every block runs the readable steps the chapters teach (vswin_edu.block); True: the
    # optimised route of vswin_edu.fast — the same numbers, about twice as fast (appendix 13)
    fast: bool = False


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
