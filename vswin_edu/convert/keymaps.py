"""Key maps between our, torchvision's and the official layouts (see the package docstring)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ..relpos import relative_position_index, table_size

StateDict = dict[str, torch.Tensor]
Rules = list[tuple[str, Callable[[re.Match], str] | str]]

LAYOUTS = ("vswin_edu", "torchvision", "official", "torchvision_2d", "official_2d")
_RECOMPUTED = ("relative_position_index", "attn_mask")  # buffers we rebuild, never load
_WRAPPERS = ("state_dict", "model", "model_state_dict", "model_state")  # checkpoint dict wrappers

# Block suffixes that differ between layouts (all other block suffixes are shared).
_TV_BLOCK = {
    "attn.relative_position_bias_table": "attn.relpos.relative_position_bias_table",
    "mlp.0.weight": "mlp.fc1.weight",
    "mlp.0.bias": "mlp.fc1.bias",
    "mlp.3.weight": "mlp.fc2.weight",
    "mlp.3.bias": "mlp.fc2.bias",
}
_OFFICIAL_BLOCK = {"attn.relative_position_bias_table": "attn.relpos.relative_position_bias_table"}
_OURS_TO_TV_BLOCK = {v: k for k, v in _TV_BLOCK.items()}
_OURS_TO_OFFICIAL_BLOCK = {v: k for k, v in _OFFICIAL_BLOCK.items()}


def _block(stage: int, block: str, suffix: str, table: Mapping[str, str]) -> str:
    return f"stages.{stage}.blocks.{block}.{table.get(suffix, suffix)}"


# (pattern on the source key, replacement giving the target key); first match wins.
_TV_TO_OURS: Rules = [
    (r"^patch_embed\.(proj|norm)\.(weight|bias)$", r"patch_embed.\1.\2"),
    (r"^features\.(\d+)\.(\d+)\.(.+)$", lambda m: _block(int(m[1]) // 2, m[2], m[3], _TV_BLOCK)),
    (
        r"^features\.(\d+)\.(norm|reduction)\.(weight|bias)$",
        lambda m: f"stages.{(int(m[1]) - 1) // 2}.downsample.{m[2]}.{m[3]}",
    ),
    (r"^(norm|head)\.(weight|bias)$", r"\1.\2"),
]
_OURS_TO_TV: Rules = [
    (r"^patch_embed\.(proj|norm)\.(weight|bias)$", r"patch_embed.\1.\2"),
    (
        r"^stages\.(\d+)\.blocks\.(\d+)\.(.+)$",
        lambda m: f"features.{2 * int(m[1])}.{m[2]}.{_OURS_TO_TV_BLOCK.get(m[3], m[3])}",
    ),
    (
        r"^stages\.(\d+)\.downsample\.(norm|reduction)\.(weight|bias)$",
        lambda m: f"features.{2 * int(m[1]) + 1}.{m[2]}.{m[3]}",
    ),
    (r"^(norm|head)\.(weight|bias)$", r"\1.\2"),
]
# Official 3D keys after stripping ``backbone.`` (and 2D official keys as they are).
_OFFICIAL_TO_OURS: Rules = [
    (r"^patch_embed\.(proj|norm)\.(weight|bias)$", r"patch_embed.\1.\2"),
    (r"^layers\.(\d+)\.blocks\.(\d+)\.(.+)$", lambda m: _block(int(m[1]), m[2], m[3], _OFFICIAL_BLOCK)),
    (r"^layers\.(\d+)\.downsample\.(norm|reduction)\.(weight|bias)$", r"stages.\1.downsample.\2.\3"),
    (r"^norm\d*\.(weight|bias)$", r"norm.\1"),  # mmaction2 1.x names the last norm norm3
    (r"^(?:cls_head\.fc_cls|head)\.(weight|bias)$", r"head.\1"),
]
_OURS_TO_OFFICIAL: Rules = [
    (r"^patch_embed\.(proj|norm)\.(weight|bias)$", r"backbone.patch_embed.\1.\2"),
    (
        r"^stages\.(\d+)\.blocks\.(\d+)\.(.+)$",
        lambda m: f"backbone.layers.{m[1]}.blocks.{m[2]}.{_OURS_TO_OFFICIAL_BLOCK.get(m[3], m[3])}",
    ),
    (r"^stages\.(\d+)\.downsample\.(.+)$", r"backbone.layers.\1.downsample.\2"),
    (r"^norm\.(weight|bias)$", r"backbone.norm.\1"),
    (r"^head\.(weight|bias)$", r"cls_head.fc_cls.\1"),
]
# torchvision swin_t/s/b (2D): features.0 = (Conv2d, Permute, LayerNorm), then blocks / merging.
_TV2D_TO_OURS: Rules = [
    (r"^features\.0\.0\.(weight|bias)$", r"patch_embed.proj.\1"),
    (r"^features\.0\.2\.(weight|bias)$", r"patch_embed.norm.\1"),
    (r"^features\.(\d*[13579])\.(\d+)\.(.+)$", lambda m: _block(int(m[1]) // 2, m[2], m[3], _TV_BLOCK)),
    (
        r"^features\.(\d*[02468])\.(norm|reduction)\.(weight|bias)$",
        lambda m: f"stages.{int(m[1]) // 2 - 1}.downsample.{m[2]}.{m[3]}",
    ),
    (r"^(norm|head)\.(weight|bias)$", r"\1.\2"),
]


def rename_key(key: str, rules: Rules) -> str | None:
    """The key ``key`` becomes under ``rules``, or ``None`` if no rule maps it."""
    for pattern, repl in rules:
        m = re.match(pattern, key)
        if m:
            return repl(m) if callable(repl) else m.expand(repl)
    return None


def _rename(state_dict: Mapping[str, torch.Tensor], rules: Rules, source: str) -> StateDict:
    out: StateDict = {}
    unmapped = []
    for key, value in state_dict.items():
        if key.endswith(_RECOMPUTED):
            continue
        new = rename_key(key, rules)
        if new is None:
            unmapped.append(key)
        elif new in out:
            raise KeyError(f"two keys of the {source} state dict map to {new!r}, the second is {key!r}")
        else:
            out[new] = value
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


def _add_index(sd: StateDict, window_size: Sequence[int]) -> StateDict:
    """Insert the ``(N, N)`` ``relative_position_index`` buffer after every bias table, as
    torchvision's ``swin3d_*`` and the official code store it."""
    index = relative_position_index(window_size)  # (N, N)
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


def from_torchvision(tv_model_or_state_dict: nn.Module | Mapping[str, torch.Tensor]) -> StateDict:
    """torchvision ``swin3d_*`` model or state dict -> a state dict for :class:`VideoSwinTransformer`."""
    sd = _as_state_dict(tv_model_or_state_dict)
    return _rename(sd, _TV_TO_OURS, "torchvision")


def to_torchvision(
    state_dict: nn.Module | Mapping[str, torch.Tensor], window_size: Sequence[int] = (8, 7, 7)
) -> StateDict:
    """Our state dict -> torchvision ``swin3d_*`` state dict, including the
    ``relative_position_index`` buffers torchvision stores (built for ``window_size``)."""
    sd = _rename(_as_state_dict(state_dict), _OURS_TO_TV, "vswin_edu")
    return _add_index(sd, window_size)


def from_official(state_dict: Mapping) -> StateDict:
    """Official Video-Swin-Transformer / mmaction2 checkpoint -> our state dict.

    Accepts the ``['state_dict']`` wrapper, ``backbone.*`` / ``cls_head.fc_cls.*`` keys and
    mmaction2 1.x's ``backbone.norm3``; drops ``relative_position_index`` and ``attn_mask``.
    """
    sd = unwrap_checkpoint(state_dict)
    stripped = {k.removeprefix("backbone."): v for k, v in sd.items()}
    return _rename(stripped, _OFFICIAL_TO_OURS, "official")


def to_official(
    state_dict: nn.Module | Mapping[str, torch.Tensor],
    window_size: Sequence[int] | None = (8, 7, 7),
    norm_name: str = "norm",
) -> StateDict:
    """Our state dict -> official key names (``backbone.*``, ``cls_head.fc_cls.*``), unwrapped.

    ``window_size`` adds the ``(N, N)`` ``relative_position_index`` buffers the official code
    saves (``None``: leave them out); ``norm_name="norm3"`` gives mmaction2 1.x's final norm.
    """
    sd = _rename(_as_state_dict(state_dict), _OURS_TO_OFFICIAL, "vswin_edu")
    if norm_name != "norm":
        sd = {k.replace("backbone.norm.", f"backbone.{norm_name}.", 1): v for k, v in sd.items()}
    return sd if window_size is None else _add_index(sd, window_size)


def unwrap_checkpoint(obj: Mapping) -> StateDict:
    """The tensor dict inside a checkpoint: unwraps ``['state_dict']`` / ``['model']`` (and the
    ``model_state_dict`` / ``model_state`` of training scripts) and strips DDP's ``module.``."""
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected a state dict (a mapping of tensors), got {type(obj).__name__}")
    for wrapper in _WRAPPERS:
        if isinstance(obj.get(wrapper), Mapping):
            return unwrap_checkpoint(obj[wrapper])
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise ValueError(f"no tensors found in the checkpoint; its top-level keys are {list(obj)[:8]}")
    if all(k.startswith("module.") for k in sd):
        sd = {k.removeprefix("module."): v for k, v in sd.items()}
    return sd


def detect_layout(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Which of :data:`LAYOUTS` a (unwrapped) state dict uses, from its key names and the patch
    weight's rank (4-D: a 2D image model, 5-D: video)."""
    keys = list(state_dict)

    def rank(key: str) -> int:
        return state_dict[key].dim() if key in state_dict else 0

    if any(k.startswith("stages.") for k in keys):
        return "vswin_edu"
    if rank("features.0.0.weight") == 4:
        return "torchvision_2d"
    if rank("patch_embed.proj.weight") == 5 and any(k.startswith("features.") for k in keys):
        return "torchvision"
    if rank("backbone.patch_embed.proj.weight") == 5 or rank("patch_embed.proj.weight") == 5:
        return "official"
    if rank("patch_embed.proj.weight") == 4 and any(k.startswith("layers.") for k in keys):
        return "official_2d"
    raise ValueError(
        f"unknown checkpoint layout: expected one of {LAYOUTS}; saw {len(keys)} key(s) such as {keys[:6]}"
    )
