"""Parameter and compute counts: per stage, per model, and global vs window attention (chapters 2, 8).

Multiply-accumulates (MACs) are counted analytically, the way papers count them: every
``Linear``/``Conv`` and the two attention matmuls, nothing for norms, softmax, GELU or additions.
For one block of ``C`` channels over ``L`` tokens in windows of ``N`` tokens (Swin, Eq. 1-2):

    Omega(MSA)   = 4 L C^2 + 2 L^2 C      (global attention: quadratic in L)
    Omega(W-MSA) = 4 L C^2 + 2 L N C      (window attention: linear in L)

plus ``2 * mlp_ratio * L C^2`` for the MLP.  For Swin-T on a 32x224x224 clip
(``L = 16*56*56 = 50,176`` tokens in stage 1) the model totals about 88 GMACs, as in the paper.
Attention and projections run on the *padded* grid (padding is real compute); the MLP on real tokens.
FLOPs are ``2 x MACs``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ._checks import triple
from .config import PRESETS, VideoSwinConfig
from .model import VideoSwinTransformer
from .windows import effective_window, num_windows


def msa_macs(L: int, C: int) -> int:
    """MACs of global multi-head self-attention over ``L`` tokens: ``4LC^2 + 2L^2C``."""
    return 4 * L * C * C + 2 * L * L * C


def wmsa_macs(L: int, C: int, N: int) -> int:
    """MACs of window attention with ``N`` tokens per window: ``4LC^2 + 2LNC``."""
    return 4 * L * C * C + 2 * L * N * C


def attention_matrix_bytes(L: int, N: int | None, num_heads: int, bytes_per_element: int = 4) -> int:
    """Memory of the attention weights of one layer: ``nH * L * L`` (global) or ``nH * L * N`` (windows)."""
    return num_heads * L * (L if N is None else N) * bytes_per_element


@dataclass(frozen=True)
class StageInfo:
    """What one stage does to a clip: shapes, windows and costs (a row of chapter 8's table)."""

    stage: int
    grid: tuple[int, int, int]  # (D, H, W) tokens entering the stage's blocks
    channels: int
    heads: int
    depth: int
    window: tuple[int, int, int]  # effective window (clamped to the grid)
    shift: tuple[int, int, int]  # effective shift of the odd blocks
    num_windows: int  # per clip, after padding to window multiples
    params: int  # blocks of this stage + the patch merging that follows it
    macs: int  # blocks + the patch merging that follows it


def _config(model_or_config):
    """The :class:`VideoSwinConfig` of a preset name, a config, or a model (its ``.config``)."""
    if isinstance(model_or_config, str):
        return PRESETS[model_or_config]
    if isinstance(model_or_config, VideoSwinConfig):
        return model_or_config
    if isinstance(model_or_config, VideoSwinTransformer):
        return model_or_config.config
    raise TypeError(
        "expected a preset name, a VideoSwinConfig or a VideoSwinTransformer, "
        f"got {type(model_or_config).__name__}"
    )


def block_macs(
    grid: Sequence[int], C: int, window: Sequence[int], mlp_ratio: float = 4.0, attention: str = "joint"
) -> int:
    """MACs of one Video Swin block on a ``(D, H, W)`` grid (per clip); ``attention="factorised"``
    counts a ``(1, M, M)`` and a ``(P, 1, 1)`` window attention (paper Table 4's ablation)."""
    if attention not in ("joint", "factorised"):
        raise ValueError(f"attention must be 'joint' or 'factorised', got {attention!r}")
    wd, wh, ww = window
    windows = [(wd, wh, ww)] if attention == "joint" else [(1, wh, ww), (wd, 1, 1)]
    macs = 2 * math.prod(grid) * C * int(C * mlp_ratio)  # MLP
    for win in windows:
        N = math.prod(win)
        macs += wmsa_macs(num_windows(grid, win) * N, C, N)  # attention runs on the padded grid
    return macs


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_params(model: nn.Module) -> int:
    """Number of parameters of a model (buffers excluded)."""
    return _count(model)


def _meta_model(cfg):
    with torch.device("meta"):  # shapes only: no memory, no time, even for Swin-L
        return VideoSwinTransformer(**asdict(cfg))


def stage_table(model_or_config, video_thw: Sequence[int] = (32, 224, 224)) -> list[StageInfo]:
    """Per-stage shapes, windows, parameters and MACs for one clip of ``video_thw`` frames/pixels."""
    cfg = _config(model_or_config)
    T, H, W = triple(video_thw, "video_thw")
    pt, ph, pw = cfg.patch_size
    grid = (-(-T // pt), -(-H // ph), -(-W // pw))
    model = _meta_model(cfg)
    rows = []
    for i, stage in enumerate(model.stages):
        C = cfg.embed_dim * 2**i
        shift_size = tuple(w // 2 for w in cfg.window_size) if cfg.shift_size is None else cfg.shift_size
        window, shift = effective_window(grid, cfg.window_size, shift_size)
        macs = cfg.depths[i] * block_macs(grid, C, window, cfg.mlp_ratio, cfg.attention)
        next_grid = grid
        if stage.downsample is not None:
            next_grid = (grid[0], -(-grid[1] // 2), -(-grid[2] // 2))
            macs += math.prod(next_grid) * 4 * C * 2 * C  # Linear(4C, 2C) on the merged tokens
        rows.append(
            StageInfo(i + 1, grid, C, cfg.num_heads[i], cfg.depths[i], window, shift,
                      num_windows(grid, window), _count(stage), macs)
        )  # fmt: skip
        grid = next_grid
    return rows


def model_params(model_or_config) -> int:
    """Parameters of a model or preset (counted on the meta device, so Swin-L costs nothing)."""
    cfg = _config(model_or_config)
    return _count(_meta_model(cfg))


def model_macs(model_or_config, video_thw: Sequence[int] = (32, 224, 224)) -> int:
    """MACs of one forward pass for one clip: patch embedding + stages + merging + head."""
    cfg = _config(model_or_config)
    T, H, W = triple(video_thw, "video_thw")
    pt, ph, pw = cfg.patch_size
    grid = (-(-T // pt), -(-H // ph), -(-W // pw))
    embed = math.prod(grid) * cfg.in_chans * pt * ph * pw * cfg.embed_dim
    stages = sum(row.macs for row in stage_table(cfg, video_thw))
    C_last = cfg.embed_dim * 2 ** (len(cfg.depths) - 1)
    return embed + stages + C_last * cfg.num_classes


def model_flops(model_or_config, video_thw: Sequence[int] = (32, 224, 224)) -> int:
    """FLOPs of one forward pass for one clip, ``2 x`` :func:`model_macs`."""
    return 2 * model_macs(model_or_config, video_thw)
