"""Checkpoint converters: torchvision, official / mmaction2 and 2D Swin weights <-> vswin_edu
(paper Sec. 3.3 and 4.1 "initialised from ImageNet"; chapter 9, appendix chapter 12).

Every converter is an explicit key map (no guessing by position) and checks what it is given:
keys it cannot map are reported, and :func:`load_state_dict_strict` names missing, unexpected and
shape-mismatched keys before anything is loaded.  Buffers that the model recomputes
(``relative_position_index``, ``attn_mask``) are dropped on the way in.

Key layouts (``i`` stage, ``j`` block; ``X`` is a block suffix such as ``norm1.weight``)::

    ours                                     torchvision swin3d_*            official / mmaction2
    patch_embed.proj / .norm                 patch_embed.proj / .norm        backbone.patch_embed.proj / .norm
    stages.i.blocks.j.X                      features.{2i}.j.X               backbone.layers.i.blocks.j.X
      ... attn.relpos.relative_position_bias_table   (attn.relative_position_bias_table elsewhere)
      ... mlp.fc1 / mlp.fc2                  mlp.0 / mlp.3                   mlp.fc1 / mlp.fc2
    stages.i.downsample.norm / .reduction    features.{2i+1}.norm / ...      backbone.layers.i.downsample...
    norm                                     norm                            backbone.norm (mmaction2: norm3)
    head                                     head                            cls_head.fc_cls

2D Swin image checkpoints (torchvision ``swin_t/s/b``: ``features.0.0`` conv, ``features.0.2`` norm,
blocks ``features.{2i+1}.j``, merging ``features.{2i+2}``; official: ``layers.i.blocks.j``, wrapped
in ``['model']``) are renamed the same way and then *inflated* (:func:`inflate_2d`).
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import triple
from .model import PRESETS, VideoSwinTransformer, build
from .relpos import relative_position_index, table_size

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


# ---------------------------------------------------------------------------------------------
# 2D -> 3D inflation (official ``inflate_weights``)
# ---------------------------------------------------------------------------------------------


@dataclass
class InflationReport:
    """What :func:`inflate_2d` did, key by key (our key names)."""

    inflated: list[str] = field(default_factory=list)  # patch weight and bias tables, new time axis
    resized: list[str] = field(default_factory=list)  # bias tables bicubic-resized to a new window
    dropped: list[str] = field(default_factory=list)  # head (unless kept), recomputed buffers
    copied: int = 0  # keys carried over unchanged

    def __str__(self) -> str:
        def short(keys: list[str]) -> str:
            return ", ".join(keys[:3]) + (f", ... ({len(keys)} keys)" if len(keys) > 3 else "")

        return (
            f"inflated {len(self.inflated)}: {short(self.inflated)}\n"
            f"resized  {len(self.resized)}: {short(self.resized)}\n"
            f"dropped  {len(self.dropped)}: {short(self.dropped)}\n"
            f"copied   {self.copied} unchanged"
        )


def inflate_patch_weight(weight_2d: torch.Tensor, temporal_patch: int) -> torch.Tensor:
    """Conv2d patch weight ``(C, 3, ph, pw)`` -> Conv3d ``(C, 3, pt, ph, pw)``, repeated over time / pt.

    On a static clip the ``pt`` frames of a patch are equal, so the 3D conv sums ``pt`` copies of
    the 2D response, each scaled by ``1/pt``: the 2D embedding exactly.
    """
    if weight_2d.dim() != 4:
        raise ValueError(f"weight_2d must be a Conv2d weight (C, 3, ph, pw), got {tuple(weight_2d.shape)}")
    return weight_2d.unsqueeze(2).repeat(1, 1, temporal_patch, 1, 1) / temporal_patch  # (C, 3, pt, ph, pw)


def inflate_bias_table(table_2d: torch.Tensor, window_size: Sequence[int]) -> torch.Tensor:
    """2D table ``((2M2-1)^2, nH)`` -> 3D table ``((2P-1)(2M-1)(2M-1), nH)``.

    The spatial table is bicubic-resized when the 2D window ``M2`` differs from ``M``, then repeated
    over the ``2P-1`` temporal offsets: the 3D index is ``rd * (2M-1)^2 + r2d``, so every temporal
    offset reads the 2D bias of the same spatial offset.
    """
    P, Mh, Mw = triple(window_size, "window_size")
    rows, heads = table_2d.shape
    side = round(rows**0.5)
    if side * side != rows:
        raise ValueError(f"a 2D bias table must have (2M-1)^2 rows, got {rows}")
    if (side, side) != (2 * Mh - 1, 2 * Mw - 1):
        grid = table_2d.T.reshape(1, heads, side, side)  # (1, nH, 2M2-1, 2M2-1)
        grid = F.interpolate(grid, size=(2 * Mh - 1, 2 * Mw - 1), mode="bicubic", align_corners=False)
        table_2d = grid.reshape(heads, -1).T  # ((2Mh-1)(2Mw-1), nH)
    return table_2d.repeat(2 * P - 1, 1)  # ((2P-1)(2Mh-1)(2Mw-1), nH)


def inflate_2d(
    state_dict_2d: Mapping,
    temporal_patch: int = 2,
    window_size: Sequence[int] = (8, 7, 7),
    keep_head: bool = False,
) -> tuple[StateDict, InflationReport]:
    """2D Swin image checkpoint (torchvision ``swin_t/s/b`` or official ``layers.*`` layout, with or
    without the ``['model']`` wrapper) -> ``(state dict for our 3D model, report)``.

    Patch weights are repeated over time and divided by ``temporal_patch``; bias tables are resized
    to the spatial window (bicubic) if needed and repeated over the ``2P-1`` temporal offsets; the
    ImageNet head is dropped unless ``keep_head``.  With the head kept and no resize, the 3D model
    on a static clip gives the 2D model's logits (chapter 12 works out why).
    """
    sd = unwrap_checkpoint(state_dict_2d)
    layout = detect_layout(sd)
    if layout not in ("torchvision_2d", "official_2d"):
        raise ValueError(f"inflate_2d expects a 2D Swin state dict, got the {layout!r} layout")
    if any("cpb_mlp" in k or "logit_scale" in k for k in sd):
        raise ValueError(
            "this is a Swin V2 checkpoint (cosine attention, continuous position bias: keys such as "
            f"{next(k for k in sd if 'cpb_mlp' in k or 'logit_scale' in k)!r}); Video Swin inflates Swin V1"
        )
    window = triple(window_size, "window_size")
    ours = _rename(sd, _TV2D_TO_OURS if layout == "torchvision_2d" else _OFFICIAL_TO_OURS, layout)
    report = InflationReport(dropped=[k for k in sd if k.endswith(_RECOMPUTED)])
    out: StateDict = {}
    for key, value in ours.items():
        if key.startswith("head.") and not keep_head:
            report.dropped.append(key)
        elif key == "patch_embed.proj.weight":
            out[key] = inflate_patch_weight(value, temporal_patch)
            report.inflated.append(key)
        elif key.endswith("relative_position_bias_table"):
            if value.shape[0] != (2 * window[1] - 1) * (2 * window[2] - 1):
                report.resized.append(key)
            out[key] = inflate_bias_table(value, window)
            report.inflated.append(key)
        else:
            out[key] = value
            report.copied += 1
    return out, report


# ---------------------------------------------------------------------------------------------
# Reading files, detecting layouts, inferring the variant
# ---------------------------------------------------------------------------------------------


def read_checkpoint(path: str | os.PathLike) -> Mapping:
    """``torch.load(path, weights_only=True)`` on CPU with errors that say what went wrong."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {os.fspath(path)!r}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():
            raise ValueError(f"{os.fspath(path)!r} is not a PyTorch checkpoint ({err})") from err
        raise ValueError(
            f"{os.fspath(path)!r} holds Python objects besides tensors, which weights_only=True refuses "
            "to unpickle. Only if you trust its source: obj = torch.load(path, weights_only=False), "
            "then pass obj (or obj['state_dict']) instead of the path."
        ) from err
    except Exception as err:  # zip/pickle readers raise RuntimeError, EOFError, KeyError, ...
        raise ValueError(
            f"{os.fspath(path)!r} is not a readable PyTorch checkpoint (truncated download or not a "
            f"checkpoint at all?): {type(err).__name__}: {str(err)[:200]}"
        ) from err
    if not isinstance(obj, Mapping):
        raise ValueError(f"{os.fspath(path)!r} holds a {type(obj).__name__}, not a state dict")
    return obj


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


def to_vswin(
    checkpoint: Mapping | nn.Module,
    window_size: Sequence[int] = (8, 7, 7),
    temporal_patch: int = 2,
    keep_head: bool | None = None,
) -> StateDict:
    """Any supported checkpoint (see :data:`LAYOUTS`) -> our state dict; 2D ones are inflated.

    ``keep_head=None`` keeps a video head and drops a 2D (ImageNet) head; True/False forces it.
    """
    sd = unwrap_checkpoint(_as_state_dict(checkpoint))
    layout = detect_layout(sd)
    if layout in ("torchvision_2d", "official_2d"):
        return inflate_2d(sd, temporal_patch, window_size, keep_head=bool(keep_head))[0]
    convert = {"vswin_edu": dict, "torchvision": from_torchvision, "official": from_official}[layout]
    ours = convert(sd)
    return {k: v for k, v in ours.items() if keep_head is not False or not k.startswith("head.")}


def infer_window(table_rows: int) -> tuple[int, int, int]:
    """The window ``(P, M, M)`` whose bias table has ``table_rows`` rows, if only one fits.

    The paper's windows are tried first (8x7x7, 16x7x7, then 4x4x4 of the micro preset); otherwise
    every ``P <= 32``, ``2 <= M <= 32`` is searched and an ambiguous size raises ``ValueError``.
    """
    for window in ((8, 7, 7), (16, 7, 7), (4, 4, 4)):
        if table_size(window) == table_rows:
            return window
    fits = [(p, m, m) for p in range(1, 33) for m in range(2, 33) if table_size((p, m, m)) == table_rows]
    if len(fits) != 1:
        raise ValueError(
            f"cannot tell the window from a bias table of {table_rows} rows (candidates {fits[:6]}); "
            "pass window_size=..."
        )
    return fits[0]


def infer_config(state_dict: Mapping[str, torch.Tensor], window_size: Sequence[int] | None = None) -> dict:
    """Model keyword arguments read off the shapes of our state dict (embed dim, patch, depths,
    heads from the bias tables' widths, window from their rows, MLP ratio, classes)."""
    sd = state_dict
    if "patch_embed.proj.weight" not in sd:
        raise KeyError(f"no patch_embed.proj.weight in the state dict; keys are e.g. {list(sd)[:6]}")
    embed_dim, in_chans, *patch = sd["patch_embed.proj.weight"].shape
    depths, heads = [], []
    while any(k.startswith(f"stages.{len(depths)}.blocks.") for k in sd):
        i = len(depths)
        depths.append(1 + max(int(k.split(".")[3]) for k in sd if k.startswith(f"stages.{i}.blocks.")))
        heads.append(sd[f"stages.{i}.blocks.0.attn.relpos.relative_position_bias_table"].shape[1])
    if not depths:
        raise KeyError("no stages.{i}.blocks.{j} keys in the state dict: is it a Video Swin checkpoint?")
    rows = sd["stages.0.blocks.0.attn.relpos.relative_position_bias_table"].shape[0]
    cfg = dict(
        patch_size=tuple(patch),
        in_chans=in_chans,
        embed_dim=embed_dim,
        depths=tuple(depths),
        num_heads=tuple(heads),
        window_size=infer_window(rows) if window_size is None else triple(window_size, "window_size"),
        mlp_ratio=sd["stages.0.blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
        qkv_bias="stages.0.blocks.0.attn.qkv.bias" in sd,
        patch_norm="patch_embed.norm.weight" in sd,
    )
    if "head.weight" in sd:
        cfg["num_classes"] = sd["head.weight"].shape[0]
    return cfg


def variant_name(cfg: Mapping) -> str:
    """``"Swin-T"`` ... for a config matching a preset's (embed dim, depths, heads), else a summary."""
    for name, preset in PRESETS.items():
        if (preset.embed_dim, preset.depths, preset.num_heads) == (
            cfg.get("embed_dim"),
            tuple(cfg.get("depths", ())),
            tuple(cfg.get("num_heads", ())),
        ):
            return f"Swin-{name.upper()}" if name != "micro" else "the micro preset"
    return f"embed_dim={cfg.get('embed_dim')}, depths={cfg.get('depths')}, num_heads={cfg.get('num_heads')}"


# ---------------------------------------------------------------------------------------------
# Loading into a model
# ---------------------------------------------------------------------------------------------


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


def load_into(model: VideoSwinTransformer, state_dict: Mapping[str, torch.Tensor]) -> VideoSwinTransformer:
    """Load our state dict strictly; a missing head keeps the model's fresh one.

    Shapes are compared first, in the model's key order, so Swin-B weights offered to Swin-T name
    the first mismatching key, both shapes and the variant the checkpoint looks like.
    """
    expected = model.state_dict()
    for key, value in expected.items():
        if key in state_dict and tuple(state_dict[key].shape) != tuple(value.shape):
            try:
                looks_like = f"; the checkpoint looks like {variant_name(infer_config(state_dict))}"
            except (KeyError, ValueError):
                looks_like = ""
            raise ValueError(
                f"the checkpoint does not fit this model: first mismatch at {key!r}, checkpoint "
                f"{tuple(state_dict[key].shape)} vs model {tuple(value.shape)}{looks_like}. "
                "vswin_edu.load(path) builds the variant a checkpoint needs."
            )
    sd = dict(state_dict)
    if "head.weight" not in sd:  # backbone-only or inflated checkpoint: keep the new head
        sd.update({k: v for k, v in expected.items() if k.startswith("head.")})
    return load_state_dict_strict(model, sd)


def _checkpoint_from(weights: str | os.PathLike | Mapping | nn.Module) -> Mapping | nn.Module:
    return read_checkpoint(weights) if isinstance(weights, str | os.PathLike) else weights


def build_with_weights(
    preset: str,
    weights: str | os.PathLike | Mapping | nn.Module,
    num_classes: int | None = None,
    window_size: Sequence[int] = (8, 7, 7),
    **overrides,
) -> VideoSwinTransformer:
    """What ``video_swin_t(weights=...)`` does: build the preset, then load any supported layout
    from a local file or a state dict (``num_classes=None``: the checkpoint's head size)."""
    window = triple(window_size, "window_size")
    pt = triple(overrides.get("patch_size", PRESETS[preset].patch_size), "patch_size")[0]
    sd = to_vswin(_checkpoint_from(weights), window_size=window, temporal_patch=pt)
    if num_classes is None:
        num_classes = sd["head.weight"].shape[0] if "head.weight" in sd else PRESETS[preset].num_classes
    return load_into(build(preset, num_classes=num_classes, window_size=window, **overrides), sd)


def load(
    checkpoint: str | os.PathLike | Mapping | nn.Module,
    *,
    window_size: Sequence[int] | None = None,
    num_classes: int | None = None,
    temporal_patch: int = 2,
    keep_head: bool | None = None,
    **overrides,
) -> VideoSwinTransformer:
    """Build the right model for a checkpoint of any supported layout and load it strictly.

    ``checkpoint``: a local file (read with ``weights_only=True``) or a state dict / model.  The
    layout (:data:`LAYOUTS`) is detected, the variant inferred from the shapes (embed dim, depths,
    heads, window), 2D checkpoints are inflated (window ``(8, 7, 7)`` unless given, head dropped
    unless ``keep_head=True``).  ``num_classes`` different from the checkpoint's head needs
    ``keep_head=False`` (a fresh head).  Other keyword arguments (``drop_path_rate=...``) override
    the model config.  The model is returned in training mode, like torchvision's builders.
    """
    window = (8, 7, 7) if window_size is None else window_size  # used to inflate 2D checkpoints
    ours = to_vswin(_checkpoint_from(checkpoint), window, temporal_patch, keep_head)
    cfg = {**infer_config(ours, window_size), **overrides}
    if num_classes is not None:
        if "head.weight" in ours and ours["head.weight"].shape[0] != num_classes:
            raise ValueError(
                f"num_classes={num_classes} but the checkpoint's head has {ours['head.weight'].shape[0]} "
                "classes; pass keep_head=False to start from a fresh head"
            )
        cfg["num_classes"] = num_classes
    return load_into(VideoSwinTransformer(**cfg), ours)


# ---------------------------------------------------------------------------------------------
# What each key means (the state-dict browser of chapter 12)
# ---------------------------------------------------------------------------------------------

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
