"""Reading checkpoint files, detecting their layout and variant, and loading them into a model."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields, replace
from enum import Enum

import torch
from torch import nn

from .._checks import check_torch_file, triple
from ..config import PRESETS, VideoSwinConfig
from ..model import VideoSwinTransformer, build
from ..relpos import table_size
from .inflate import inflate_2d
from .keymaps import (
    StateDict,
    _as_state_dict,
    detect_layout,
    from_official,
    from_torchvision,
    unwrap_checkpoint,
)


def read_checkpoint(path: str | os.PathLike) -> Mapping:
    """``torch.load(path, weights_only=True)`` on CPU with errors that say what went wrong."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {os.fspath(path)!r}")
    check_torch_file(path)  # random bytes: "not a PyTorch checkpoint", not weights_only advice
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


# Loading into a model


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


def saved_model_config(checkpoint: Mapping | nn.Module) -> dict | None:
    """The model config a checkpoint carries, as ``VideoSwinTransformer`` keyword arguments, or None.

    A :class:`VideoSwinTransformer` has its ``config``; a checkpoint written by ``vswin_edu.train``
    holds ``model_config`` (the model's own config) and ``config`` (the training flags, from which
    :func:`vswin_edu.train.build_model` rebuilds the model of older checkpoints).  Shapes alone
    cannot tell e.g. ``--shift-size 0 2 2`` from the default shift: the logits would differ.
    """
    if isinstance(checkpoint, VideoSwinTransformer):
        return asdict(checkpoint.config)
    ours = isinstance(checkpoint, Mapping) and all(
        isinstance(checkpoint.get(k), Mapping) for k in ("model", "optimizer", "rng", "config")
    )
    if not ours:  # not a vswin_edu.train checkpoint
        return None
    if isinstance(checkpoint.get("model_config"), Mapping):
        known = {f.name for f in fields(VideoSwinConfig)}
        saved = checkpoint["model_config"]
        return {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in known}
    from ..train.config import TrainConfig  # lazy: only for vswin_edu.train checkpoints
    from ..train.loop import model_overrides

    try:
        train_config = TrainConfig.from_dict(dict(checkpoint["config"]))
    except (TypeError, ValueError):
        return None  # a config of another training script: read the shapes instead
    return asdict(replace(PRESETS[train_config.model], **model_overrides(train_config)))


def _is_named(weights: object) -> bool:
    """Named weights (:mod:`vswin_edu.weights`): an enum member, or a ``str`` that is no file."""
    return isinstance(weights, Enum) or (isinstance(weights, str) and not os.path.isfile(weights))


def build_with_weights(
    preset: str,
    weights: str | os.PathLike | Mapping | nn.Module,
    num_classes: int | None = None,
    window_size: Sequence[int] = (8, 7, 7),
    **overrides,
) -> VideoSwinTransformer:
    """What ``video_swin_t(weights=...)`` does: build the preset, then load any supported layout
    from a local file or a state dict (``num_classes=None``: the checkpoint's head size).

    Named weights (a :mod:`vswin_edu.weights` member or its name) come from torch.hub's cache,
    downloaded on first use; the model keeps the member as ``model.weights`` (its categories and
    transforms, for :func:`vswin_edu.predict`)."""
    window = triple(window_size, "window_size")
    pt = triple(overrides.get("patch_size", PRESETS[preset].patch_size), "patch_size")[0]
    named = None
    if _is_named(weights):
        from ..weights import get_weights  # lazy: weights imports this package

        named = get_weights(preset, weights)
        checkpoint = named.get_state_dict()
    else:
        checkpoint = _checkpoint_from(weights)
    sd = to_vswin(checkpoint, window_size=window, temporal_patch=pt)
    if num_classes is None:
        num_classes = sd["head.weight"].shape[0] if "head.weight" in sd else PRESETS[preset].num_classes
    model = load_into(build(preset, num_classes=num_classes, window_size=window, **overrides), sd)
    model.weights = named
    return model


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
    obj = _checkpoint_from(checkpoint)
    ours = to_vswin(obj, window, temporal_patch, keep_head)
    saved = saved_model_config(obj)
    if saved is not None and window_size is not None:
        saved["window_size"] = triple(window_size, "window_size")
    # A training checkpoint (vswin_edu.train) or a model knows its whole config — shift, attention,
    # ... — which the shapes cannot tell; anything else is read off the shapes.
    cfg = {**(saved if saved is not None else infer_config(ours, window_size)), **overrides}
    if num_classes is not None:
        if "head.weight" in ours and ours["head.weight"].shape[0] != num_classes:
            raise ValueError(
                f"num_classes={num_classes} but the checkpoint's head has {ours['head.weight'].shape[0]} "
                "classes; pass keep_head=False to start from a fresh head"
            )
        cfg["num_classes"] = num_classes
    return load_into(VideoSwinTransformer(**cfg), ours)
