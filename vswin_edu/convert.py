"""Checkpoint converters: torchvision ``swin3d_*`` <-> vswin_edu (chapter 9).

Every converter is an explicit key map (no guessing by position) and checks what it is given:
keys it cannot map are reported, and :func:`load_state_dict_strict` names missing, unexpected and
shape-mismatched keys before anything is loaded.

torchvision layout -> ours::

    patch_embed.proj / patch_embed.norm          -> patch_embed.proj / patch_embed.norm
    features.{2i}.{j}.norm1 / norm2              -> stages.{i}.blocks.{j}.norm1 / norm2
    features.{2i}.{j}.attn.qkv / attn.proj       -> stages.{i}.blocks.{j}.attn.qkv / attn.proj
    features.{2i}.{j}.attn.relative_position_bias_table
        -> stages.{i}.blocks.{j}.attn.relpos.relative_position_bias_table
    features.{2i}.{j}.attn.relative_position_index  (buffer, recomputed: dropped)
    features.{2i}.{j}.mlp.0 / mlp.3              -> stages.{i}.blocks.{j}.mlp.fc1 / mlp.fc2
    features.{2i+1}.norm / reduction             -> stages.{i}.downsample.norm / reduction
    norm / head                                  -> norm / head
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from .relpos import relative_position_index, table_size

StateDict = dict[str, torch.Tensor]

# (pattern on torchvision keys, replacement giving our key); applied in order, first match wins.
_TV_TO_OURS: list[tuple[str, Callable[[re.Match], str] | str]] = [
    (r"^patch_embed\.(proj|norm)\.(weight|bias)$", r"patch_embed.\1.\2"),
    (
        r"^features\.(\d+)\.(\d+)\.(.+)$",
        lambda m: f"stages.{int(m[1]) // 2}.blocks.{m[2]}.{_tv_block_suffix(m[3])}",
    ),
    (
        r"^features\.(\d+)\.(norm|reduction)\.(weight|bias)$",
        lambda m: f"stages.{(int(m[1]) - 1) // 2}.downsample.{m[2]}.{m[3]}",
    ),
    (r"^(norm|head)\.(weight|bias)$", r"\1.\2"),
]

_TV_BLOCK = {
    "attn.relative_position_bias_table": "attn.relpos.relative_position_bias_table",
    "mlp.0.weight": "mlp.fc1.weight",
    "mlp.0.bias": "mlp.fc1.bias",
    "mlp.3.weight": "mlp.fc2.weight",
    "mlp.3.bias": "mlp.fc2.bias",
}
_OURS_BLOCK = {v: k for k, v in _TV_BLOCK.items()}
_RECOMPUTED = ("relative_position_index", "attn_mask")  # buffers we rebuild, never load


def _tv_block_suffix(suffix: str) -> str:
    return _TV_BLOCK.get(suffix, suffix)


def _rename(state_dict: Mapping[str, torch.Tensor], rules, source: str) -> StateDict:
    out: StateDict = {}
    unmapped = []
    for key, value in state_dict.items():
        if key.endswith(_RECOMPUTED):
            continue
        for pattern, repl in rules:
            m = re.match(pattern, key)
            if m:
                new = repl(m) if callable(repl) else m.expand(repl)
                out[new] = value
                break
        else:
            unmapped.append(key)
    if unmapped:
        raise KeyError(
            f"{len(unmapped)} key(s) of the {source} state dict have no mapping, e.g. {unmapped[:5]}; "
            "is this a checkpoint of a different model?"
        )
    return out


def _as_state_dict(obj: nn.Module | Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected an nn.Module or a state dict, got {type(obj).__name__}")
    return obj


def from_torchvision(tv_model_or_state_dict: nn.Module | Mapping[str, torch.Tensor]) -> StateDict:
    """torchvision ``swin3d_*`` model or state dict -> a state dict for :class:`VideoSwinTransformer`."""
    sd = _as_state_dict(tv_model_or_state_dict)
    return _rename(sd, _TV_TO_OURS, "torchvision")


_OURS_TO_TV: list[tuple[str, Callable[[re.Match], str] | str]] = [
    (r"^patch_embed\.(proj|norm)\.(weight|bias)$", r"patch_embed.\1.\2"),
    (
        r"^stages\.(\d+)\.blocks\.(\d+)\.(.+)$",
        lambda m: f"features.{2 * int(m[1])}.{m[2]}.{_OURS_BLOCK.get(m[3], m[3])}",
    ),
    (
        r"^stages\.(\d+)\.downsample\.(norm|reduction)\.(weight|bias)$",
        lambda m: f"features.{2 * int(m[1]) + 1}.{m[2]}.{m[3]}",
    ),
    (r"^(norm|head)\.(weight|bias)$", r"\1.\2"),
]


def to_torchvision(
    state_dict: nn.Module | Mapping[str, torch.Tensor], window_size: Sequence[int] = (8, 7, 7)
) -> StateDict:
    """Our state dict -> torchvision ``swin3d_*`` state dict, including the
    ``relative_position_index`` buffers torchvision stores (built for ``window_size``)."""
    sd = _rename(_as_state_dict(state_dict), _OURS_TO_TV, "vswin_edu")
    index = relative_position_index(window_size).flatten()  # torchvision stores (N*N,)
    out: StateDict = {}
    for key, value in sd.items():
        out[key] = value
        if key.endswith("attn.relative_position_bias_table"):
            if value.shape[0] != table_size(window_size):
                raise ValueError(
                    f"{key} has {value.shape[0]} rows but window_size={tuple(window_size)} needs "
                    f"{table_size(window_size)}; pass the window the model was built with"
                )
            out[key.replace("relative_position_bias_table", "relative_position_index")] = index.clone()
    return out


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise a ``KeyError``/``ValueError`` that lists missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        raise KeyError(
            f"state dict does not fit {type(model).__name__}: "
            f"{len(missing)} missing key(s) {missing[:8]}{' ...' if len(missing) > 8 else ''}, "
            f"{len(unexpected)} unexpected key(s) {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}"
        )
    for key, value in state_dict.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(
                f"shape mismatch at {key!r}: the checkpoint has {tuple(value.shape)}, the model "
                f"expects {tuple(expected[key].shape)} (a checkpoint of a different variant?)"
            )


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Check with :func:`check_state_dict`, then load strictly; returns the model."""
    check_state_dict(model, state_dict)
    model.load_state_dict(state_dict, strict=True)
    return model
