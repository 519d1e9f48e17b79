"""The Video Swin Transformer: four stages of blocks with patch merging (paper Sec. 3.1, Fig. 1;
chapters 8-9).

    video (B, 3, T, H, W)
      -> 3D patch partition + linear embedding   (B, T/2, H/4, W/4, C)
      -> stage 1: blocks (W-MSA, SW-MSA, ...)    (B, T/2, H/4, W/4, C)
      -> patch merging + stage 2                 (B, T/2, H/8, W/8, 2C)
      -> patch merging + stage 3                 (B, T/2, H/16, W/16, 4C)
      -> patch merging + stage 4                 (B, T/2, H/32, W/32, 8C)
      -> LayerNorm -> mean over tokens -> dropout -> linear head   (B, num_classes)

The configuration and the presets (the paper's Table 1, and ``micro``, a teaching size that trains
on a laptop CPU in about a minute) live in :mod:`vswin_edu.config`.  ``fast=True`` runs every block
by the fast route (:mod:`vswin_edu.fast`): the same numbers, about twice as fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from functools import partial

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ._checks import check_model_input, check_video, shift_triple, triple
from .block import FactorisedVideoSwinBlock, VideoSwinBlock
from .config import PRESETS, VideoSwinConfig
from .merging import PatchMerging
from .patch import PatchEmbed3D
from .windows import effective_window

__all__ = [
    "PRESETS",
    "AttentionTrace",
    "BlockAttention",
    "VideoSwinConfig",
    "VideoSwinStage",
    "VideoSwinTransformer",
    "build",
    "video_swin_b",
    "video_swin_l",
    "video_swin_micro",
    "video_swin_s",
    "video_swin_t",
]


@dataclass(frozen=True)
class BlockAttention:
    """What one block attended with in a traced pass (:meth:`VideoSwinTransformer.trace_attention`)."""

    stage: int
    block: int
    dhw: tuple[int, int, int]  # the block's input grid
    window: tuple[int, int, int]  # effective window and shift on that grid
    shift: tuple[int, int, int]
    weights: torch.Tensor  # (B*nW, nH, N, N): the windows of the padded, rolled grid


@dataclass
class AttentionTrace:
    """Attention weights recorded during one forward pass, keyed by ``(stage, block)``.

    ``blocks``: which ``(stage, block)`` pairs to record (None: every block).
    """

    blocks: frozenset[tuple[int, int]] | None = None
    records: dict[tuple[int, int], BlockAttention] = field(default_factory=dict)

    def wants(self, stage: int, block: int) -> bool:
        return self.blocks is None or (stage, block) in self.blocks

    def record(self, stage: int, j: int, dhw: tuple[int, int, int], block: VideoSwinBlock, weights) -> None:
        window, shift = effective_window(dhw, block.window_size, block.shift_size)
        self.records[stage, j] = BlockAttention(stage, j, dhw, window, shift, weights)

    def __getitem__(self, key: tuple[int, int]) -> BlockAttention:
        return self.records[key]


CONFIG_FIELDS = tuple(f.name for f in fields(VideoSwinConfig))
# what the builders' ``weights=`` takes: a file, a state dict, or named weights (an enum member or its name)
WeightsArg = str | os.PathLike | Mapping[str, torch.Tensor] | Enum | None
BLOCKS = {"joint": VideoSwinBlock, "factorised": FactorisedVideoSwinBlock}  # VideoSwinConfig.attention


class VideoSwinStage(nn.Module):
    """One stage: ``depth`` blocks alternating regular and shifted windows, then patch merging."""

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: Sequence[int],
        drop_path: Sequence[float],
        downsample: bool,
        use_checkpoint: bool = False,
        shift_size: Sequence[int] | None = None,
        attention: str = "joint",
        **block_kwargs,
    ) -> None:
        super().__init__()
        window = triple(window_size, "window_size")
        shift = tuple(w // 2 for w in window) if shift_size is None else shift_triple(shift_size)
        if attention not in BLOCKS:
            raise ValueError(f"attention must be one of {sorted(BLOCKS)}, got {attention!r}")
        self.blocks = nn.ModuleList(
            BLOCKS[attention](
                dim,
                num_heads,
                window_size=window,
                shift_size=(0, 0, 0) if j % 2 == 0 else shift,  # shift only in odd blocks (P/2, M/2, M/2)
                drop_path=drop_path[j],
                **block_kwargs,
            )
            for j in range(depth)
        )
        self.downsample = (
            PatchMerging(dim, block_kwargs.get("norm_layer", nn.LayerNorm)) if downsample else None
        )
        self.use_checkpoint = use_checkpoint

    def forward(self, x: torch.Tensor, trace: AttentionTrace | None = None, stage: int = 0) -> torch.Tensor:
        """``(B, D, H, W, C)`` -> the next stage's grid; ``trace`` records the blocks it asks for."""
        x = self.run_blocks(x, trace, stage)  # (B, D, H, W, C)
        return self.downsample(x) if self.downsample is not None else x

    def run_blocks(
        self, x: torch.Tensor, trace: AttentionTrace | None = None, stage: int = 0
    ) -> torch.Tensor:
        """The stage's blocks alone, ``(B, D, H, W, C)`` -> same shape (the map before merging)."""
        for j, block in enumerate(self.blocks):
            if trace is not None and trace.wants(stage, j):
                dhw = (x.shape[1], x.shape[2], x.shape[3])
                x, weights = block(x, return_attn=True)  # (B, D, H, W, C), (B*nW, nH, N, N)
                trace.record(stage, j, dhw, block, weights)
            elif self.use_checkpoint and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)  # recompute in backward, save memory
            else:
                x = block(x)  # (B, D, H, W, C)
        return x


class VideoSwinTransformer(nn.Module):
    """The full model; ``forward(video (B, 3, T, H, W)) -> logits (B, num_classes)``.

    Keyword arguments are the fields of :class:`VideoSwinConfig`.
    """

    def __init__(
        self,
        patch_size: Sequence[int] = (2, 4, 4),
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: Sequence[int] = (8, 7, 7),
        num_classes: int = 400,
        **kwargs,
    ) -> None:
        super().__init__()
        unknown = sorted(set(kwargs) - set(CONFIG_FIELDS))
        if unknown:
            raise TypeError(
                f"unknown VideoSwinConfig field(s) {unknown}; the fields are {list(CONFIG_FIELDS)}"
            )
        # VideoSwinConfig validates every field (an int window is (k, k, k)) and normalises to tuples
        cfg = VideoSwinConfig(
            patch_size=patch_size,
            embed_dim=embed_dim,
            depths=depths,
            num_heads=num_heads,
            window_size=window_size,
            num_classes=num_classes,
            **kwargs,
        )
        self.config = cfg
        norm_layer = partial(nn.LayerNorm, eps=1e-5)
        self.patch_embed = PatchEmbed3D(
            cfg.patch_size, cfg.in_chans, cfg.embed_dim, norm_layer if cfg.patch_norm else None
        )
        self.pos_drop = nn.Dropout(cfg.drop_rate)
        # stochastic depth grows linearly over all blocks of all stages: 0 ... drop_path_rate
        total = sum(cfg.depths)
        rates = [cfg.drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads, strict=True)):
            start = sum(cfg.depths[:i])
            self.stages.append(
                VideoSwinStage(
                    cfg.embed_dim * 2**i,
                    depth,
                    heads,
                    cfg.window_size,
                    drop_path=rates[start : start + depth],
                    downsample=i < len(cfg.depths) - 1,
                    use_checkpoint=bool(cfg.checkpoint_stages and cfg.checkpoint_stages[i]),
                    shift_size=cfg.shift_size,
                    attention=cfg.attention,
                    fast=cfg.fast,
                    mlp_ratio=cfg.mlp_ratio,
                    qkv_bias=cfg.qkv_bias,
                    drop=cfg.drop_rate,
                    attn_drop=cfg.attn_drop_rate,
                    norm_layer=norm_layer,
                )
            )
        self.num_features = cfg.embed_dim * 2 ** (len(cfg.depths) - 1)
        self.norm = norm_layer(self.num_features)
        self.head_drop = nn.Dropout(cfg.head_dropout)
        self.head = nn.Linear(self.num_features, cfg.num_classes)
        # the named weights a builder loaded (a vswin_edu.weights member: categories, transforms), else None
        self.weights = None

    def forward_features(
        self, video: torch.Tensor, trace: AttentionTrace | None = None, *, stages: Sequence[int] | None = None
    ) -> torch.Tensor | list[torch.Tensor]:
        """Video ``(B, 3, T, H, W)`` -> normalised last-stage tokens ``(B, D, H, W, C)``.

        ``stages`` (timm's ``out_indices``): instead, the feature map of each listed stage, channels
        first as detection and segmentation heads take them, ``[(B, C_i, D, H_i, W_i), ...]`` in the
        order asked: stage ``i``'s blocks' output before its patch merging (``C_i = 2^i C``,
        ``H_i = H / 2^(i+2)`` for 4×4 patches); the last stage's map is the normalised one above.
        Stages after the last one asked are not run.  ``trace`` (see :meth:`trace_attention`)
        records the attention weights of the blocks it names.
        """
        weight = self.patch_embed.proj.weight
        check_video(video, channels=self.config.in_chans, floating=True)
        check_model_input(video, weight)
        wanted = None if stages is None else self._check_stages(stages)
        if video.shape[0] == 0:  # no clips: empty outputs of the right shapes, like torchvision
            grids = self._stage_grids(video.shape[2:])
            empty = [video.new_zeros((0, *grid, self.stage_channels[i])) for i, grid in enumerate(grids)]
            empty[-1] = self.norm(empty[-1])
            if wanted is None:
                return empty[-1]
            return [empty[i].permute(0, 4, 1, 2, 3) for i in wanted]
        x = self.pos_drop(self.patch_embed(video))  # (B, D, H, W, C)
        last = len(self.stages) - 1
        maps: dict[int, torch.Tensor] = {}
        for i, stage in enumerate(self.stages):
            x = stage.run_blocks(x, trace, stage=i)  # (B, D, H_i, W_i, C_i)
            if i == last:
                x = self.norm(x)
            if wanted is not None and i in wanted:
                maps[i] = x.permute(0, 4, 1, 2, 3)  # (B, C_i, D, H_i, W_i)
                if len(maps) == len(wanted):
                    return [maps[j] for j in wanted]
            if stage.downsample is not None:
                x = stage.downsample(x)  # (B, D, H_i/2, W_i/2, 2 C_i)
        return x

    @property
    def stage_channels(self) -> list[int]:
        """``C_i`` of each stage's feature map: ``embed_dim * 2^i``."""
        return [self.config.embed_dim * 2**i for i in range(len(self.stages))]

    def _check_stages(self, stages: Sequence[int]) -> list[int]:
        n = len(self.stages)
        if isinstance(stages, (int, str)) or not all(isinstance(i, int) for i in stages):
            raise TypeError(f"stages must be a sequence of stage numbers like (0, 1, 2, 3), got {stages!r}")
        chosen = list(stages)
        if not chosen or len(set(chosen)) != len(chosen) or not all(0 <= i < n for i in chosen):
            raise ValueError(
                f"stages must be distinct numbers in 0..{n - 1} (this model has {n}), got {stages!r}"
            )
        return chosen

    def _stage_grids(self, thw: Sequence[int]) -> list[tuple[int, int, int]]:
        """Each stage's token grid for a ``T x H x W`` clip: patches, then one 2x2 merge per stage."""
        d, h, w = (-(-n // p) for n, p in zip(thw, self.config.patch_size, strict=True))
        grids = [(d, h, w)]
        for _ in range(len(self.stages) - 1):
            h, w = -(-h // 2), -(-w // 2)  # PatchMerging pads an odd side
            grids.append((d, h, w))
        return grids

    @torch.no_grad()
    def trace_attention(
        self, video: torch.Tensor, blocks: Iterable[tuple[int, int]] | None = None
    ) -> AttentionTrace:
        """One forward pass that records what the blocks attended with (chapter 12's attention maps).

        ``blocks``: the ``(stage, block)`` pairs to record (default: all).  The model stays in its
        mode (call ``.eval()`` first for deterministic weights).
        """
        wanted = None if blocks is None else frozenset((int(i), int(j)) for i, j in blocks)
        for i, j in wanted or ():
            if not (0 <= i < len(self.stages) and 0 <= j < len(self.stages[i].blocks)):
                raise ValueError(
                    f"no block {j} in stage {i} of this model (blocks per stage: {self.config.depths})"
                )
        trace = AttentionTrace(wanted)
        self.forward_features(video, trace)
        return trace

    def use_fast_path(self, enabled: bool = True) -> VideoSwinTransformer:
        """Switch every block to the fast route (:mod:`vswin_edu.fast`) or back; returns the model."""
        for stage in self.stages:
            for block in stage.blocks:
                block.fast = bool(enabled)
        self.config = replace(self.config, fast=bool(enabled))
        return self

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(video)  # (B, D, H, W, C)
        x = x.mean(dim=(1, 2, 3))  # (B, C) global average over all tokens
        return self.head(self.head_drop(x))  # (B, num_classes)

    def set_checkpointing(self, stages: bool | Sequence[bool] = True) -> None:
        """Turn activation checkpointing on/off for all stages (bool) or per stage (sequence)."""
        flags = [stages] * len(self.stages) if isinstance(stages, bool) else list(stages)
        if len(flags) != len(self.stages):
            raise ValueError(f"stages must have one bool per stage ({len(self.stages)}), got {stages}")
        for stage, flag in zip(self.stages, flags, strict=True):
            stage.use_checkpoint = bool(flag)


def build(name: str, **overrides) -> VideoSwinTransformer:
    """Build a preset (``"t"``, ``"s"``, ``"b"``, ``"l"``, ``"micro"``) with fields overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    unknown = sorted(set(overrides) - set(CONFIG_FIELDS))
    if unknown:
        raise TypeError(f"unknown VideoSwinConfig field(s) {unknown}; the fields are {list(CONFIG_FIELDS)}")
    cfg = replace(PRESETS[name], **overrides)
    return VideoSwinTransformer(**asdict(cfg))


def _preset_with_weights(
    name: str,
    num_classes: int | None,
    window_size: int | Sequence[int],
    weights: WeightsArg,
    **kw,
) -> VideoSwinTransformer:
    """Build preset ``name``; with ``weights`` (a local file path or a state dict of any layout
    :mod:`vswin_edu.convert` reads, or named weights of :mod:`vswin_edu.weights`), load them
    strictly.  ``num_classes=None``: the preset's default, or the checkpoint's head size when
    weights are given."""
    window = triple(window_size, "window_size")  # an int k is (k, k, k), as in VideoSwinTransformer
    if weights is None:
        classes = PRESETS[name].num_classes if num_classes is None else num_classes
        return build(name, num_classes=classes, window_size=window, **kw)
    from .convert import build_with_weights  # lazy: convert imports this module

    return build_with_weights(name, weights, num_classes=num_classes, window_size=window, **kw)


def video_swin_t(
    num_classes: int | None = None,
    window_size: int | Sequence[int] = (8, 7, 7),
    *,
    weights: WeightsArg = None,
    **kw,
) -> VideoSwinTransformer:
    """Swin-T: C=96, depths (2, 2, 6, 2), heads (3, 6, 12, 24); 28.2M params with 400 classes.

    ``weights``: a local checkpoint path or state dict (ours, torchvision, official/mmaction2, or a
    2D Swin to inflate), read with ``weights_only=True``; or named weights,
    ``VideoSwin_T_Weights.KINETICS400_V1`` (:mod:`vswin_edu.weights`) or its name
    ``"KINETICS400_V1"``, downloaded once into torch.hub's cache.
    """
    return _preset_with_weights("t", num_classes, window_size, weights, **kw)


def video_swin_s(
    num_classes: int | None = None,
    window_size: int | Sequence[int] = (8, 7, 7),
    *,
    weights: WeightsArg = None,
    **kw,
) -> VideoSwinTransformer:
    """Swin-S: C=96, depths (2, 2, 18, 2), heads (3, 6, 12, 24); 49.8M params. ``weights``: see
    :func:`video_swin_t`."""
    return _preset_with_weights("s", num_classes, window_size, weights, **kw)


def video_swin_b(
    num_classes: int | None = None,
    window_size: int | Sequence[int] = (8, 7, 7),
    *,
    weights: WeightsArg = None,
    **kw,
) -> VideoSwinTransformer:
    """Swin-B: C=128, depths (2, 2, 18, 2), heads (4, 8, 16, 32); 88.1M params.

    Use ``window_size=(16, 7, 7)`` for Something-Something v2 (paper: 69.6 top-1).
    ``weights``: see :func:`video_swin_t`.
    """
    return _preset_with_weights("b", num_classes, window_size, weights, **kw)


def video_swin_l(
    num_classes: int | None = None,
    window_size: int | Sequence[int] = (8, 7, 7),
    *,
    weights: WeightsArg = None,
    **kw,
) -> VideoSwinTransformer:
    """Swin-L: C=192, depths (2, 2, 18, 2), heads (6, 12, 24, 48); 197M params. ``weights``: see
    :func:`video_swin_t`."""
    return _preset_with_weights("l", num_classes, window_size, weights, **kw)


def video_swin_micro(
    num_classes: int | None = None,
    window_size: int | Sequence[int] = (4, 4, 4),
    *,
    weights: WeightsArg = None,
    **kw,
) -> VideoSwinTransformer:
    """Teaching size: C=48, depths (2, 2), heads (3, 6), window 4x4x4 — for 16x32x32 clips on a CPU;
    8 classes unless ``num_classes`` or ``weights`` say otherwise."""
    return _preset_with_weights("micro", num_classes, window_size, weights, **kw)
