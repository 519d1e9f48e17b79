"""Read off a running model what each block really did: its windows, its mask, its bias index.

Two probe passes of the whole model, with every block's QKV projection zeroed (so ``Q = K = 0`` and
the logits *are* the additive terms, ``QK^T/sqrt(d) + B + mask = B + mask``):

1. **mask pass** — bias tables zeroed: the logits are the mask, exactly.  The same pass follows the
   tokens: the windows that enter the QKV projection are matched, bit for bit, against the grid
   that left ``norm1`` (padding, roll and partition only move values), which gives the original
   ``(t, h, w)`` of every window slot — the roll direction, the padding and the window shape.
2. **bias pass** — every table row ``r`` set to the number ``r``: the logits minus the mask are the
   table row each (query, key) pair reads, the relative-position index the block really used.

Zeroing QKV changes what later blocks see but not their grids (shapes depend only on the input
shape), and the residual stream keeps every token distinct, so each block is probed at the grid
it has in a real forward pass.  Parameters, train/eval mode and routes are restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .layouts import AuditedBlock, Layout

__all__ = ["Capture", "capture"]

PADDING, UNKNOWN = -1, -2  # origins of a window slot that is zero padding / no token of the grid
_SOFTMAX = (F.softmax, torch.softmax, torch.Tensor.softmax)
_EXACT = 2.0**12  # |mask| up to here keeps "mask + table row" exact in float32


@dataclass
class Capture:
    """What one block did in the probe passes (batch element 0).

    ``origins`` ``(nW, N, 3)``: original ``(t, h, w)`` of each window slot, ``PADDING`` for zero
    padding, ``UNKNOWN`` for a slot that matches no token of the grid.  ``mask`` ``(nW, N, N)``: the
    additive mask of head 0.  ``index`` ``(N, N)`` float: the table row each pair read (NaN where the
    mask hides it).  The ``*_heads_agree`` flags say whether every head saw the same.
    """

    block: AuditedBlock
    grid: tuple[int, int, int]
    origins: torch.Tensor
    mask: torch.Tensor
    mask_heads_agree: bool
    index: torch.Tensor | None = None
    index_heads_agree: bool = True
    index_windows_agree: bool = True


class AuditError(RuntimeError):
    """The model does not follow the protocol the audit relies on (see :mod:`vswin_edu.audit.layouts`)."""


def token_keys(x: torch.Tensor) -> torch.Tensor:
    """An int64 fingerprint of every token ``(..., C) -> (...)`` from the exact bits of its values.

    Copies (pad, roll, partition) keep the bits, so a token has the same key wherever it moves; a
    zero-padding token gets key 0.
    """
    bits = x.detach().float().contiguous().view(torch.int32).long()  # (..., C)
    mix = torch.randint(1, 2**62, (x.shape[-1],), generator=torch.Generator().manual_seed(0)) | 1
    return (bits * mix).sum(-1)  # wraps modulo 2**64: still a fingerprint


def match_tokens(grid: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """Original ``(t, h, w)`` of each slot of ``windows`` ``(nW, N, C)`` in ``grid`` ``(D, H, W, C)``."""
    D, H, W, _ = grid.shape
    keys = token_keys(grid).flatten()  # (D*H*W,)
    sorted_keys, order = keys.sort()
    if (sorted_keys[1:] == sorted_keys[:-1]).any():
        raise AuditError(
            "two tokens of a block's input are identical, so the audit cannot tell where windows come "
            "from: audit with a random video (the default), not a constant one"
        )
    wanted = token_keys(windows)  # (nW, N)
    at = torch.searchsorted(sorted_keys, wanted).clamp(max=keys.numel() - 1)
    found = sorted_keys[at] == wanted
    flat = order[at]  # raster number of the matched token
    coords = torch.stack([flat // (H * W), flat // W % H, flat % W], dim=-1)  # (nW, N, 3)
    filler = torch.where(wanted == 0, PADDING, UNKNOWN)[..., None].expand_as(coords)
    return torch.where(found[..., None], coords, filler)


class _Recorder(TorchFunctionMode):
    """Watches torch calls inside the block being run: its QKV input, then its first logits."""

    def __init__(self, blocks: list[AuditedBlock], batch: int) -> None:
        super().__init__()
        self.batch = batch
        self.current: AuditedBlock | None = None
        self.phase = "mask"
        self.grids: dict[str, torch.Tensor] = {}
        self.windows: dict[str, torch.Tensor] = {}  # per phase, reset by `start`
        self.captures: dict[str, Capture] = {}
        self._blocks = blocks

    def start(self, phase: str) -> None:
        self.phase, self.windows = phase, {}

    @contextlib.contextmanager
    def hooks(self) -> Iterator[None]:
        handles = []
        for block in self._blocks:
            handles.append(block.module.register_forward_pre_hook(self._enter(block)))
            handles.append(block.module.register_forward_hook(self._leave))
            handles.append(block.norm.register_forward_hook(self._grid(block)))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _enter(self, block: AuditedBlock):
        def hook(module, args):
            self.current = block

        return hook

    def _leave(self, module, args, output):
        self.current = None

    def _grid(self, block: AuditedBlock):
        def hook(module, args, output):
            if self.current is block and block.name not in self.grids and self.phase == "mask":
                if output.dim() != 5:
                    raise AuditError(
                        f"{block.name}: the norm's output must be a grid (B, D, H, W, C), got shape "
                        f"{tuple(output.shape)}"
                    )
                self.grids[block.name] = output.detach()[0]  # (D, H, W, C)

        return hook

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        block = self.current
        if block is None:
            return out
        if func is F.linear and args[1] is block.qkv.weight and block.name not in self.windows:
            self.windows[block.name] = args[0].detach()  # (B*nW, N, C)
        elif block.name in self.windows and self._is_logits_call(block, func, args, kwargs):
            self._record(block, self._logits(func, args, kwargs))
        return out

    def _is_logits_call(self, block, func, args, kwargs) -> bool:
        cap = self.captures.get(block.name)
        if cap is not None and (self.phase == "mask" or cap.index is not None):
            return False  # only the first logits of a block are its attention's
        if func in _SOFTMAX:
            dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
            return dim in (-1, args[0].dim() - 1)
        return func is F.scaled_dot_product_attention

    @staticmethod
    def _logits(func, args, kwargs) -> torch.Tensor:
        if func in _SOFTMAX:
            return args[0].detach()
        attn_mask = kwargs.get("attn_mask", args[3] if len(args) > 3 else None)
        q = args[0]
        if attn_mask is None:  # no bias, no mask: the logits of zero queries are zero
            return q.new_zeros(q.shape[:-1] + (args[1].shape[-2],))
        return attn_mask.detach()

    def _record(self, block: AuditedBlock, logits: torch.Tensor) -> None:
        windows = self.windows[block.name]
        nW, N = windows.shape[0] // self.batch, windows.shape[1]
        logits = logits.float().reshape(-1, block.num_heads, N, N)  # (nW or B*nW or 1, nH, N, N)
        logits = logits.expand(nW, -1, -1, -1) if logits.shape[0] == 1 else logits[:nW]
        head0 = logits[:, 0]  # (nW, N, N)
        agree = bool((logits == head0[:, None]).all())
        if self.phase == "mask":
            origins = match_tokens(self.grids[block.name], windows[:nW])
            grid = tuple(self.grids[block.name].shape[:3])
            self.captures[block.name] = Capture(block, grid, origins, head0.clone(), agree)
        elif block.name in self.captures:
            self._record_index(self.captures[block.name], head0, agree)

    @staticmethod
    def _record_index(cap: Capture, logits: torch.Tensor, heads_agree: bool) -> None:
        readable = torch.isfinite(cap.mask) & (cap.mask.abs() <= _EXACT)  # (nW, N, N)
        rows = torch.where(readable, logits - cap.mask, torch.nan)  # the table row of every pair
        first = readable.int().argmax(0, keepdim=True)  # a window where the pair is readable
        index = rows.gather(0, first)[0]  # (N, N), NaN where no window shows the pair
        cap.index = index
        cap.index_heads_agree = heads_agree
        cap.index_windows_agree = bool(((rows == index) | ~readable).all())


@contextlib.contextmanager
def _probing(model: nn.Module, blocks: list[AuditedBlock], layout: Layout) -> Iterator[None]:
    """Eval mode, QKV and tables zeroed, the layout's route; everything restored on exit."""
    params = [p for b in blocks for p in (*b.qkv.parameters(), b.table)]
    saved = [p.detach().clone() for p in params]
    was_training = model.training
    route = layout.readable(model) if layout.readable else contextlib.nullcontext()
    try:
        with route, torch.no_grad():
            model.eval()
            for p in params:
                p.zero_()
            yield
    finally:
        with torch.no_grad():
            for p, value in zip(params, saved, strict=True):
                p.copy_(value)
        model.train(was_training)


def capture(model: nn.Module, video: torch.Tensor, layout: Layout) -> list[Capture]:
    """Run the two probe passes of :mod:`vswin_edu.audit.capture` and return one capture per block."""
    blocks = layout.blocks(model)
    if not blocks:
        raise AuditError(f"layout {layout.name!r} finds no blocks in {type(model).__name__}")
    recorder = _Recorder(blocks, batch=video.shape[0])
    with _probing(model, blocks, layout), recorder.hooks():
        recorder.start("mask")
        with recorder:
            model(video)
        for b in blocks:  # row r of every table holds the number r, in every head
            b.table.copy_(torch.arange(b.table.shape[0], dtype=b.table.dtype)[:, None].expand_as(b.table))
        recorder.start("bias")
        with recorder:
            model(video)
    missing = [
        b.name for b in blocks if b.name not in recorder.captures or recorder.captures[b.name].index is None
    ]
    if missing:
        raise AuditError(
            f"blocks {missing} ran no QKV projection followed by softmax(dim=-1) or "
            "scaled_dot_product_attention (or did not run at all): see the protocol in "
            "vswin_edu.audit.layouts"
        )
    return [recorder.captures[b.name] for b in blocks]
