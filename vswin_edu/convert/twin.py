"""torchvision's ``SwinTransformer3d`` built from one of our configurations (random weights)."""

from __future__ import annotations

from torch import nn

from ..config import VideoSwinConfig


def torchvision_architecture(cfg: VideoSwinConfig) -> nn.Module:
    """``SwinTransformer3d`` with ``cfg``'s sizes, for configurations torchvision has no builder for
    (the micro preset, another class count).  Raises for switches torchvision does not have."""
    from torchvision.models.video.swin_transformer import SwinTransformer3d  # only comparisons need it

    if cfg.attention != "joint" or cfg.shift_size is not None or not cfg.patch_norm or not cfg.qkv_bias:
        raise ValueError(
            "model: torchvision's SwinTransformer3d has joint attention, the default shift, a patch norm and "
            f"qkv bias; got attention={cfg.attention!r}, shift_size={cfg.shift_size}, "
            f"patch_norm={cfg.patch_norm}, qkv_bias={cfg.qkv_bias}"
        )
    return SwinTransformer3d(
        patch_size=list(cfg.patch_size),
        embed_dim=cfg.embed_dim,
        depths=list(cfg.depths),
        num_heads=list(cfg.num_heads),
        window_size=list(cfg.window_size),
        mlp_ratio=cfg.mlp_ratio,
        stochastic_depth_prob=cfg.drop_path_rate,
        num_classes=cfg.num_classes,
    )
