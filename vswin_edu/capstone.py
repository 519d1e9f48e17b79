"""The capstone (chapter 10): your own functions inside the model, checked layer by layer against torchvision.

:func:`build_model` builds a Video Swin (Sec. 3.1-3.3) whose readable path calls *your* functions from the
chapters' exercises — the 3D patch partition (1.1), window partition (3.1) and reverse, the cyclic shift (4.1)
and its reverse, the shifted-window mask (5.1), the relative position index (6.1), the attention half of the
block (7.2) and patch merging (8.1) — wherever the library's would run.  A part you do not give, or whose stub
still returns ``TODO``, falls back to the library's; :attr:`PartSet.status` says which was used.

:func:`compare` runs two models on one video with forward hooks and lists every layer like nn-zero-to-hero's
``cmp()``: exact?, close?, max |Δ|, and ``first_divergence``, the first layer where the two part ways —
with the right weights (:func:`vswin_edu.convert.from_torchvision`) a learner's model must match torchvision's
``swin3d_t`` at every layer.  Nothing here is on the model's own path: the model never imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import triple
from .attention import WindowAttention3D
from .block import VideoSwinBlock
from .convert import load_state_dict_strict, to_torchvision, to_vswin, torchvision_architecture
from .exercises import TODO
from .exercises.ch06 import index_with_strides
from .exercises.ch07 import attention_half
from .merging import PatchMerging, merge_patches
from .model import VideoSwinTransformer, build
from .patch import PatchEmbed3D, pad_to_patch, patch_partition
from .relpos import RelativePositionBias3D, relative_position_index, table_size, window_coords
from .shift import MASKED_LOGIT, cyclic_shift, reverse_cyclic_shift, shifted_window_mask
from .windows import effective_window, num_windows, pad_to_window, window_partition, window_reverse

__all__ = [
    "KNOWN_WRONG",
    "Comparison",
    "LayerDiff",
    "PartError",
    "PartSet",
    "Parts",
    "build_model",
    "compare",
    "layer_modules",
    "torchvision_twin",
]

ATOL, RTOL = 1e-5, 1e-4  # "close": torch.allclose tolerances (float32 sums in another order differ by ~1e-7)


@dataclass(frozen=True)
class Parts:
    """The replaceable functions, each called with the signature of its exercise (None: the library's)."""

    patch_partition: Callable | None = None  # 1.1  video (B, 3, T, H, W), padded -> (B, D, H, W, 3*2*4*4)
    window_partition: Callable | None = None  # 3.1  (x (B, D, H, W, C), window) -> (B*nW, N, C)
    window_reverse: Callable | None = None  # (windows, window, B, D, H, W) -> (B, D, H, W, C)
    cyclic_shift: Callable | None = None  # 4.1  (x, shift) -> x rolled by -shift
    reverse_cyclic_shift: Callable | None = None  # (x, shift) -> x rolled back by +shift
    shifted_window_mask: Callable | None = None  # 5.1  (padded dhw, window, shift) -> (nW, N, N) 0 / -100
    relative_position_index: Callable | None = None  # 6.1  (window) -> LongTensor (N, N)
    attention_half: Callable | None = None  # 7.2  (block, x) -> (B, D, H, W, C); replaces the seven steps
    merge_patches: Callable | None = None  # 8.1  (x (B, D, H, W, C)) -> (B, D, H/2, W/2, 4C)


PART_NAMES = tuple(f.name for f in fields(Parts))
YOURS, NOT_ATTEMPTED = "yours", "not attempted (returned TODO): the library's was used"
LIBRARY, NOT_CALLED = "the library's (not given)", "given, but never called"


class PartError(RuntimeError):
    """A given part raised or returned something the model cannot use; the message names the part."""


class PartSet:
    """The parts one model calls: yours where given and attempted, else the library's.

    ``status[name]`` records what the last forward used: ``"yours"``, ``"not attempted ..."`` (the
    function returned ``TODO``, so the library's ran instead), ``"the library's (not given)"`` or
    ``"given, but never called"`` (e.g. the seven steps' parts when ``attention_half`` replaces them).
    """

    def __init__(self, parts: Parts | Mapping[str, Callable | None] | None = None) -> None:
        if parts is None:
            parts = {}
        elif isinstance(parts, Parts):
            parts = {name: getattr(parts, name) for name in PART_NAMES}
        elif not isinstance(parts, Mapping):
            raise TypeError(
                f"parts must be a Parts, a mapping name -> function or None, got {type(parts).__name__}"
            )
        unknown = sorted(set(parts) - set(PART_NAMES))
        if unknown:
            raise ValueError(
                f"parts: unknown name(s) {unknown}; the replaceable parts are {list(PART_NAMES)}"
            )
        self.given: dict[str, Callable] = {}
        for name, fn in parts.items():
            if fn is None or fn is TODO:
                continue
            if not callable(fn):
                raise TypeError(f"parts[{name!r}] must be a function, got {type(fn).__name__}")
            self.given[name] = fn
        self.status = {name: NOT_CALLED if name in self.given else LIBRARY for name in PART_NAMES}

    def call(self, name: str, fallback: Callable, *args: Any, expect: Sequence[int] | None = None) -> Any:
        """``parts[name](*args)`` if given and attempted, else ``fallback(*args)``; checks the shape."""
        fn = self.given.get(name)
        if fn is None:
            return fallback(*args)
        try:
            out = fn(*args)
        except PartError:
            raise
        except Exception as err:  # a learner's bug: name the part, keep the original as the cause
            raise PartError(f"your {name} raised {type(err).__name__}: {err}") from err
        if out is TODO:
            self.status[name] = NOT_ATTEMPTED
            return fallback(*args)
        self.status[name] = YOURS
        if not isinstance(out, torch.Tensor):
            raise PartError(f"your {name} must return a torch.Tensor, got {type(out).__name__}")
        if expect is not None and tuple(out.shape) != tuple(expect):
            raise PartError(f"your {name} returned shape {tuple(out.shape)}, expected {tuple(expect)}")
        return out

    def lines(self) -> list[str]:
        return [f"{name:24s} {self.status[name]}" for name in PART_NAMES]

    def __repr__(self) -> str:
        return "\n".join(["parts:"] + [f"  {line}" for line in self.lines()])


# --- the model's modules, routed through the parts ------------------------------------------------


class CapstonePatchEmbed(PatchEmbed3D):
    """:class:`PatchEmbed3D` whose patches come from ``parts.patch_partition`` (given: partition + Linear)."""

    parts: PartSet

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if "patch_partition" not in self.parts.given:
            return super().forward(video)  # the Conv3d: the same linear map (chapter 1)
        video = pad_to_patch(video, self.patch_size)  # (B, 3, T', H', W') multiples of the patch
        B, C, T, H, W = video.shape
        pt, ph, pw = self.patch_size
        library = partial(patch_partition, patch_size=self.patch_size)
        expect = (B, T // pt, H // ph, W // pw, C * pt * ph * pw)
        patches = self.parts.call("patch_partition", library, video, expect=expect)  # (B, D, H, W, 96)
        x = F.linear(patches, self.proj.weight.flatten(1), self.proj.bias)  # (B, D, H, W, C)
        return self.norm(x) if self.norm is not None else x


class CapstoneRelativePositionBias3D(RelativePositionBias3D):
    """The bias gathered with ``parts.relative_position_index`` of the full window.

    A shrunken (effective) window's tokens are a sub-block of the full window, so its index is read
    off the full one at their positions — your 6.1 index then serves every block (the ``[:N, :N]``
    slice would be the upstream bug, chapter 6).
    """

    parts: PartSet

    def index(self, window_size: Sequence[int] | None = None) -> torch.Tensor:
        window = self.window_size if window_size is None else triple(window_size, "window_size")
        P, M1, M2 = self.window_size
        full = self.parts.call(
            "relative_position_index", relative_position_index, self.window_size, expect=(P * M1 * M2,) * 2
        )  # (Nf, Nf)
        if full.is_floating_point() or full.is_complex() or full.dtype == torch.bool:
            raise PartError(f"your relative_position_index must return an integer tensor, got {full.dtype}")
        rows = table_size(self.window_size)
        if int(full.min()) < 0 or int(full.max()) >= rows:
            raise PartError(
                f"your relative_position_index has values in [{int(full.min())}, {int(full.max())}], "
                f"outside the table's rows [0, {rows}) for window {self.window_size}"
            )
        full = full.long().to(self.relative_position_index.device)
        if window == self.window_size:
            return full
        d, h, w = window_coords(window).unbind(-1)  # (N,) each: the small window's tokens
        at = (d * M1 + h) * M2 + w  # (N,) their raster positions in the full window
        return full[at[:, None], at[None, :]]  # (N, N)


class CapstoneBlock(VideoSwinBlock):
    """:class:`VideoSwinBlock` whose attention half is ``parts.attention_half`` or the seven named steps
    (pad -> shift -> partition -> attend -> reverse -> unshift -> unpad) with the given parts."""

    parts: PartSet

    def window_attention(
        self,
        x: torch.Tensor,
        attn: WindowAttention3D,
        window_size: Sequence[int],
        shift_size: Sequence[int],
        return_attn: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if return_attn:  # attention weights for plots come from the library's route
            return super().window_attention(x, attn, window_size, shift_size, return_attn)
        steps = partial(self.seven_steps, attn=attn, window_size=window_size, shift_size=shift_size)
        return self.parts.call("attention_half", lambda _, y: steps(y), self, x, expect=x.shape)

    def seven_steps(
        self, x: torch.Tensor, attn: WindowAttention3D, window_size: Sequence[int], shift_size: Sequence[int]
    ) -> torch.Tensor:
        """:func:`vswin_edu.block.shifted_window_attention`, each step a part; ``(B, D, H, W, C)``."""
        call = self.parts.call
        B, D, H, W, C = x.shape
        window, shift = effective_window((D, H, W), window_size, shift_size)
        x = pad_to_window(x, window)  # 1. pad          (B, Dp, Hp, Wp, C)
        padded = tuple(x.shape)
        dhw = padded[1:4]
        nW, N = num_windows(dhw, window), math.prod(window)
        x = call("cyclic_shift", cyclic_shift, x, shift, expect=padded)  # 2. shift
        windows = call("window_partition", window_partition, x, window, expect=(B * nW, N, C))  # 3. partition
        mask = None
        if any(shift):
            mask = call("shifted_window_mask", shifted_window_mask, dhw, window, shift, expect=(nW, N, N))
            if not mask.is_floating_point():
                raise PartError(
                    f"your shifted_window_mask must be additive floats (0.0 may attend, -100.0 masked), "
                    f"got dtype {mask.dtype}"
                )
            mask = mask.to(x.device)  # (nW, N, N)
        out = attn(windows, mask=mask, window_size=window)  # 4. attend       (B*nW, N, C)
        x = call("window_reverse", window_reverse, out, window, B, *dhw, expect=padded)  # 5. reverse
        x = call("reverse_cyclic_shift", reverse_cyclic_shift, x, shift, expect=padded)  # 6. unshift
        return x[:, :D, :H, :W, :]  # 7. unpad        (B, D, H, W, C)


class CapstoneMerging(PatchMerging):
    """:class:`PatchMerging` whose 2x2 gather is ``parts.merge_patches``."""

    parts: PartSet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, D, H, W, C = x.shape
        expect = (B, D, -(-H // 2), -(-W // 2), 4 * C)
        merged = self.parts.call("merge_patches", merge_patches, x, expect=expect)  # (B, D, H/2, W/2, 4C)
        return self.reduction(self.norm(merged))  # (B, D, H/2, W/2, 2C)


def _route(module: nn.Module, cls: type, parts: PartSet) -> None:
    """Turn ``module`` into its capstone subclass in place: same parameters, same state-dict keys."""
    module.__class__ = cls  # the subclasses add no parameters and no __init__ state, only `parts`
    module.parts = parts


def build_model(
    parts: Parts | Mapping[str, Callable | None] | None = None,
    *,
    preset: str = "t",
    weights: Mapping[str, torch.Tensor] | nn.Module | None = None,
    **overrides: Any,
) -> VideoSwinTransformer:
    """A Video Swin (``preset`` of :data:`vswin_edu.config.PRESETS`, ``overrides``) that calls ``parts``.

    Args:
        parts: a :class:`Parts` or a mapping ``name -> function`` (names: :data:`PART_NAMES`); a missing
            part, ``None`` or a function returning ``TODO`` uses the library's.
        weights: a state dict of any layout :func:`vswin_edu.convert.to_vswin` reads (ours, or e.g.
            ``swin3d_t().state_dict()``), or a torchvision model; loaded strictly.
        overrides: fields of :class:`vswin_edu.config.VideoSwinConfig` (``num_classes=``, ``window_size=``).

    Returns:
        The model (in training mode, like any builder); ``model.parts`` is its :class:`PartSet`.
    """
    part_set = PartSet(parts)
    if overrides.get("fast", False):
        raise ValueError("fast: the capstone routes the readable path through your parts; got fast=True")
    if overrides.get("attention", "joint") != "joint":
        raise ValueError(
            f"attention: the capstone builds joint (P, M, M) windows, got {overrides['attention']!r}"
        )
    model = build(preset, **overrides)
    if weights is not None:
        load_state_dict_strict(model, to_vswin(weights, window_size=model.config.window_size))
    _route(model.patch_embed, CapstonePatchEmbed, part_set)
    for stage in model.stages:
        for block in stage.blocks:
            _route(block, CapstoneBlock, part_set)
            _route(block.attn.relpos, CapstoneRelativePositionBias3D, part_set)
        if stage.downsample is not None:
            _route(stage.downsample, CapstoneMerging, part_set)
    model.parts = part_set
    return model


def torchvision_twin(model: VideoSwinTransformer) -> nn.Module:
    """torchvision's ``SwinTransformer3d`` with ``model``'s configuration and weights, in eval mode.

    For configurations torchvision has no builder for (e.g. the micro preset); ``swin3d_t`` is Swin-T's.
    """
    cfg = model.config
    tv = torchvision_architecture(cfg)
    tv.load_state_dict(to_torchvision(model.state_dict(), cfg.window_size), strict=True)
    return tv.eval()


# --- the mistakes learners make (COURSE.md), as parts ------------------------------------------------


def _inverted_mask(dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]) -> torch.Tensor:
    """0 and -100 swapped: tokens of one region are kept apart, wrapped-round pieces attend."""
    mask = shifted_window_mask(dhw, window_size, shift_size)  # (nW, N, N)
    return torch.where(mask == 0, MASKED_LOGIT, 0.0)


def _collapsed_index(window_size: Sequence[int]) -> torch.Tensor:
    """Multipliers ``(2M-1, 2M-1, 1)`` instead of ``((2M-1)^2, 2M-1, 1)``: offsets collide (nnFormer#46)."""
    _, _, M = window_size
    return index_with_strides(tuple(window_size), (2 * M - 1, 2 * M - 1, 1))  # (N, N)


def _raster_merge(x: torch.Tensor) -> torch.Tensor:
    """The 2x2 neighbours in raster order ``(0,0), (0,1), (1,0), (1,1)``: x1 and x2 swapped."""
    H, W = x.shape[2], x.shape[3]
    x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))  # (B, D, H', W', C), H', W' even
    parts = [x[:, :, dh::2, dw::2] for dh, dw in ((0, 0), (0, 1), (1, 0), (1, 1))]
    return torch.cat(parts, dim=-1)  # (B, D, H/2, W/2, 4C)


# label -> the parts with one known mistake each (the flipped sign rolls by +shift: reverse_cyclic_shift)
KNOWN_WRONG: dict[str, dict[str, Callable]] = {
    "flipped shift sign": {"cyclic_shift": reverse_cyclic_shift},
    "inverted mask": {"shifted_window_mask": _inverted_mask},
    "wrong index multipliers": {"relative_position_index": _collapsed_index},
    "pad after roll": {"attention_half": partial(attention_half, pad_first=False)},
    "wrong merge order": {"merge_patches": _raster_merge},
}


# --- the layer-by-layer comparison ----------------------------------------------------------------


def layer_modules(model: nn.Module) -> list[tuple[str, nn.Module, bool]]:
    """``(layer name, module, read its input?)`` in forward order, for our models and torchvision's.

    A block's *attention* row is the residual stream after the attention half, ``z + (S)W-MSA(LN(z))``:
    the input of ``norm2`` in both implementations.  Stages and blocks count from 0 like ``model.stages[i]``.
    """
    if isinstance(model, VideoSwinTransformer):
        stages = [(list(s.blocks), s.downsample) for s in model.stages]
    elif hasattr(model, "features") and hasattr(model, "patch_embed"):  # torchvision's SwinTransformer3d
        feats = list(model.features)
        stages = [
            (list(feats[k]), feats[k + 1] if k + 1 < len(feats) else None) for k in range(0, len(feats), 2)
        ]
    else:
        raise TypeError(
            "model must be a VideoSwinTransformer or torchvision's SwinTransformer3d, "
            f"got {type(model).__name__}"
        )
    layers = [("patch_embed", model.patch_embed, False)]
    for i, (blocks, merging) in enumerate(stages):
        for j, block in enumerate(blocks):
            layers += [
                (f"stage {i} block {j} attention", block.norm2, True),
                (f"stage {i} block {j} output", block, False),
            ]
        if merging is not None:
            layers.append((f"stage {i} merging", merging, False))
    return layers + [("norm", model.norm, False), ("head", model.head, False)]


@dataclass(frozen=True)
class LayerDiff:
    """One row of a :class:`Comparison`; ``max_abs`` is nan for a layer one model never reached and inf for
    a shape mismatch."""

    name: str
    exact: bool
    close: bool
    max_abs: float
    note: str = ""


@dataclass
class Comparison:
    """What :func:`compare` found; prints as a ``cmp()``-style table."""

    rows: list[LayerDiff]
    first_divergence: str | None  # the first row that is not close, or None
    parts: list[str] = field(default_factory=list)  # model_a's part status, if it has parts
    errors: list[str] = field(default_factory=list)  # "model_a: ..." for a forward pass that raised
    atol: float = ATOL
    rtol: float = RTOL

    @property
    def ok(self) -> bool:
        """True when every layer is close (and both forward passes ran)."""
        return self.first_divergence is None

    def __getitem__(self, name: str) -> LayerDiff:
        return next(row for row in self.rows if row.name == name)

    def __str__(self) -> str:
        lines = [f"{'layer':28s} | exact | close | max |Δ|"]
        for r in self.rows:
            lines.append(
                f"{r.name:28s} | {str(r.exact):5s} | {str(r.close):5s} | {r.max_abs:.1e} {r.note}".rstrip()
            )
        tol = f"(close: |Δ| <= {self.atol:g} + {self.rtol:g}·|b|)"
        verdict = "every layer matches" if self.ok else f"first divergence: {self.first_divergence}"
        lines += [f"{verdict} {tol}"] + self.errors
        if self.parts:
            lines += ["parts of model_a:"] + [f"  {line}" for line in self.parts]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def _record(layers: list[tuple[str, nn.Module, bool]], store: dict[str, torch.Tensor]) -> list:
    def hook(name: str, use_input: bool):
        def save(module, args, output):
            store[name] = (args[0] if use_input else output).detach().float().cpu()

        return save

    return [module.register_forward_hook(hook(name, use_input)) for name, module, use_input in layers]


def compare(model_a: nn.Module, model_b: nn.Module, video: torch.Tensor) -> Comparison:
    """Run both models on ``video`` (in eval mode, restored after) and compare them layer by layer.

    ``model_a`` / ``model_b``: our models (e.g. :func:`build_model`'s) or torchvision's ``SwinTransformer3d``,
    with the same architecture.  A forward pass that raises (e.g. a :class:`PartError`) is reported in
    ``errors``; the layers it did not reach are rows with ``max_abs = nan``.
    """
    layers_a, layers_b = layer_modules(model_a), layer_modules(model_b)
    if [n for n, _, _ in layers_a] != [n for n, _, _ in layers_b]:
        raise ValueError(
            f"model_a and model_b have different layers: {len(layers_a)} vs {len(layers_b)} rows"
        )
    outputs: tuple[dict, dict] = ({}, {})
    errors = []
    for tag, model, layers, store in (
        ("model_a", model_a, layers_a, outputs[0]),
        ("model_b", model_b, layers_b, outputs[1]),
    ):
        hooks, was_training = _record(layers, store), model.training
        try:
            with torch.no_grad():
                model.eval()(video)
        except Exception as err:  # report it in the table, do not lose the layers before it
            errors.append(f"{tag} raised {type(err).__name__}: {err}")
        finally:
            for h in hooks:
                h.remove()
            model.train(was_training)
    rows = []
    for name, _, _ in layers_a:
        a, b = outputs[0].get(name), outputs[1].get(name)
        if a is None or b is None:
            rows.append(LayerDiff(name, False, False, math.nan, "not reached"))
        elif a.shape != b.shape:
            rows.append(
                LayerDiff(name, False, False, math.inf, f"shapes {tuple(a.shape)} vs {tuple(b.shape)}")
            )
        else:
            diff = float((a - b).abs().max()) if a.numel() else 0.0
            rows.append(LayerDiff(name, torch.equal(a, b), torch.allclose(a, b, rtol=RTOL, atol=ATOL), diff))
    first = next((row.name for row in rows if not row.close), None)
    parts = model_a.parts.lines() if isinstance(getattr(model_a, "parts", None), PartSet) else []
    return Comparison(rows, first, parts, errors)
