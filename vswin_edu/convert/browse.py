"""What each key of a state dict means: the engine of chapter 13's state-dict browser."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from .keymaps import _OURS_TO_OFFICIAL, _OURS_TO_TV, _as_state_dict, rename_key

# Our key suffix -> its meaning; first match wins.
KEY_MEANINGS: tuple[tuple[str, str], ...] = (
    (
        "patch_embed.proj.weight",
        "3D patch embedding: Conv3d, kernel = stride = patch (2x4x4); maps each "
        "2*4*4*3 = 96-number patch to C channels (Sec. 3.1)",
    ),
    ("patch_embed.proj.bias", "bias of the patch embedding"),
    ("patch_embed.norm", "LayerNorm on the embedded tokens"),
    ("norm1", "LayerNorm before (shifted) window attention"),
    ("attn.qkv.weight", "query/key/value projection C -> 3C; heads are slices of each third"),
    ("attn.qkv.bias", "query/key/value biases"),
    (
        "relative_position_bias_table",
        "3D relative position bias, one row per offset (dt, dh, dw): (2P-1)(2M-1)(2M-1) rows x heads (Eq. 1)",
    ),
    ("attn.proj", "output projection after the heads are concatenated"),
    ("norm2", "LayerNorm before the MLP"),
    ("mlp.fc1", "MLP expansion C -> 4C (GELU after it)"),
    ("mlp.fc2", "MLP projection 4C -> C"),
    ("downsample.norm", "patch merging: LayerNorm on the 4C concatenation of 2x2 neighbours"),
    ("downsample.reduction", "patch merging: linear 4C -> 2C, no bias (time is not merged)"),
    ("norm.", "final LayerNorm on the last stage's tokens"),
    ("head", "classifier on the average of all tokens"),
)


def describe_key(key: str) -> str:
    """What one of our state-dict keys holds, in a sentence."""
    for suffix, meaning in KEY_MEANINGS:
        if suffix in key:
            return meaning
    raise KeyError(f"{key!r} is not a key of a vswin_edu state dict")


def key_part(key: str) -> tuple[str, str]:
    """``(part, block)`` a key belongs to: ``("stage 1", "block 0")``, ``("stage 0", "downsample")``,
    ``("patch_embed", "all")`` or ``("norm + head", "all")``."""
    m = re.match(r"^stages\.(\d+)\.(?:blocks\.(\d+)|downsample)\.", key)
    if m:
        return f"stage {m[1]}", f"block {m[2]}" if m[2] is not None else "downsample"
    return ("patch_embed", "all") if key.startswith("patch_embed.") else ("norm + head", "all")


def browse(
    state_dict: Mapping[str, torch.Tensor] | nn.Module,
    part: str = "all",
    block: str = "all",
    names: str = "vswin_edu",
) -> list[dict]:
    """Rows ``{key, ours, shape, params, meaning}`` of our state dict, filtered by ``part`` /
    ``block`` (see :func:`key_part`), with ``key`` spelt in the ``names`` layout
    (``"vswin_edu"``, ``"torchvision"`` or ``"official"``)."""
    rules = {"vswin_edu": None, "torchvision": _OURS_TO_TV, "official": _OURS_TO_OFFICIAL}
    if names not in rules:
        raise ValueError(f"names must be one of {sorted(rules)}, got {names!r}")
    rows = []
    for key, value in _as_state_dict(state_dict).items():
        where = key_part(key)
        if part not in ("all", where[0]) or block not in ("all", where[1]):
            continue
        rows.append(
            dict(
                key=key if rules[names] is None else rename_key(key, rules[names]),
                ours=key,
                shape=tuple(value.shape),
                params=value.numel(),
                meaning=describe_key(key),
            )
        )
    return rows


def parameter_groups(state_dict: Mapping[str, torch.Tensor] | nn.Module) -> dict[str, int]:
    """Parameters per part in model order: ``{"patch_embed": n, "stage 0 blocks": n,
    "stage 0 downsample": n, ..., "norm + head": n}``."""
    groups: dict[str, int] = {}
    for key, value in _as_state_dict(state_dict).items():
        part, block = key_part(key)
        name = part if block == "all" else f"{part} {'downsample' if block == 'downsample' else 'blocks'}"
        groups[name] = groups.get(name, 0) + value.numel()
    return groups
