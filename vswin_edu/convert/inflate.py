"""2D -> 3D inflation of Swin image checkpoints (the official ``inflate_weights``; chapter 13)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .._checks import triple
from .keymaps import (
    _OFFICIAL_TO_OURS,
    _RECOMPUTED,
    _TV2D_TO_OURS,
    StateDict,
    _rename,
    detect_layout,
    unwrap_checkpoint,
)


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
    on a static clip gives the 2D model's logits (chapter 13 works out why).
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
