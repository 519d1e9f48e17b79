"""Audit any Video Swin implementation against the oracles: its windows, shifts, masks and biases.

    from vswin_edu.audit import audit
    report = audit(torchvision.models.video.swin3d_t(), torch.randn(1, 3, 16, 112, 112))
    print(report)                   # one line per block: OK, or what is wrong and where
    report.first_wrong()            # (block, finding): stage, block, first wrong (query, key)

For every block the audit records what the implementation *really* used in a forward pass — the
token in every window slot (so the effective window, the padding and the roll direction), the
additive mask of every window and the relative-position table row of every (query, key) pair
(:mod:`vswin_edu.audit.capture`) — and compares each with :mod:`vswin_edu.reference`'s oracles for
that block's grid (:mod:`vswin_edu.audit.checks`).  Adapters for this library, torchvision's
``swin3d_*`` and the official / mmaction2 ``SwinTransformer3D`` are built in; a home-made model
describes its blocks with a :class:`Layout` (:mod:`vswin_edu.audit.layouts`).

The audit covers the attention half of every block — windows, padding, shift, mask, bias — where
implementations differ and break; the patch embedding, patch merging and the MLP are outside it
(compare those layer by layer with :func:`vswin_edu.capstone.compare` or
:func:`vswin_edu.viz.compare_layers`).

Draw the result with :func:`vswin_edu.viz.plot_audit`; open one block's captured mask in the mask
debugger with ``MaskDebugger.from_audit(report, block=...)``; from a shell:
``python -m vswin_edu.audit torchvision:swin3d_t --input 1x3x16x112x112 --png audit.png``.
"""

from __future__ import annotations

import torch
from torch import nn

from .capture import AuditError, Capture, capture
from .checks import Finding, check_capture
from .layouts import LAYOUTS, AuditedBlock, Layout, detect_layout
from .report import AuditReport, BlockAudit

__all__ = [
    "audit", "AuditReport", "BlockAudit", "Finding", "Layout", "LAYOUTS", "AuditedBlock", "AuditError",
    "Capture", "detect_layout",
]  # fmt: skip


def audit(
    model: nn.Module, video: torch.Tensor | None = None, *, implementation: str | Layout = "auto",
    input_shape: tuple[int, int, int, int, int] = (1, 3, 16, 224, 224),
) -> AuditReport:  # fmt: skip
    """Run ``model`` on ``video`` with probes and compare every block with the oracles.

    Args:
        model: a Video Swin model (or backbone) taking ``(B, 3, T, H, W)``.
        video: the clip to run, ``(B, C, T, H, W)``; default a seeded random clip of ``input_shape``.
            Only its shape matters to the blocks' geometry; its tokens must be distinct (a random
            clip, not a constant one).
        implementation: ``"auto"`` (recognise the layout), ``"vswin_edu"``, ``"torchvision"``,
            ``"official"``, or a :class:`Layout` for a home-made model.

    Returns:
        An :class:`AuditReport`: per block OK / wrong, with the first wrong entry of each check in
        ``(t, h, w)`` video coordinates and, where it is a known mistake, its name.  The model's
        parameters and mode are unchanged afterwards.
    """
    if video is None:
        video = torch.randn(input_shape, generator=torch.Generator().manual_seed(0))
    if not isinstance(video, torch.Tensor) or video.dim() != 5:
        shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
        raise ValueError(f"video must be a tensor (B, C, T, H, W), got {shape}")
    param = next(model.parameters(), None)
    if param is not None:
        video = video.to(device=param.device, dtype=param.dtype)
    layout = detect_layout(model, implementation)
    blocks = []
    for cap in capture(model, video, layout):
        geo, findings = check_capture(cap)
        b = cap.block
        blocks.append(
            BlockAudit(b.name, b.stage, b.index, cap.grid, b.window_size, b.shift_size, geo, findings,
                       mask=cap.mask, bias_index=cap.index)
        )  # fmt: skip
    return AuditReport(layout.name, type(model).__name__, tuple(video.shape), blocks)
