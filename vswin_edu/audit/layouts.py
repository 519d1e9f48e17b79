"""Where a Video Swin implementation keeps the pieces of a block (the audit's adapters).

A :class:`Layout` names, by attribute path from a block module, the five things the audit needs:
the LayerNorm whose output is the grid the windows are cut from, the QKV projection, the relative
position bias table, and the configured window and shift.  Three layouts are built in and found
automatically (``implementation="auto"``):

* ``"vswin_edu"`` — this library's :class:`~vswin_edu.block.VideoSwinBlock` (audited on its readable
  route; the fast route is held equal to it by ``tests/test_fast.py``);
* ``"torchvision"`` — ``torchvision.models.video.swin3d_t/s/b`` (``features.{2i}.{j}``);
* ``"official"`` — the official Video-Swin-Transformer / mmaction2 ``SwinTransformer3D``
  (``layers.{i}.blocks.{j}``, recognised by that module structure).

**A home-made model** passes its own layout::

    Layout("mine", block=MyBlock, norm="ln_attn", qkv="attention.to_qkv",
           table="attention.rel_table", window="window", shift="shift")

The protocol the audit relies on (it is what all three implementations above do): inside the
block's ``forward``, the output of ``norm`` is zero-padded, rolled and partitioned into windows
``(B*nW, N, C)`` that go *unchanged* into the ``qkv`` linear layer (``F.linear`` with its weight);
the logits ``(.., nH, N, N)`` then reach ``softmax(dim=-1)`` or ``F.scaled_dot_product_attention``
(as its ``attn_mask``), with the bias read from ``table`` (rows ``(2P-1)(2M-1)(2M-1)``, one column
per head) and the mask added.  ``window`` and ``shift`` are the *configured* ``(P, M, M)`` and shift;
the audit clamps them to each grid itself (the oracle), and reports what the block really did.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import reduce

from torch import nn

from .._checks import shift_triple, triple
from ..block import VideoSwinBlock

__all__ = ["Layout", "AuditedBlock", "LAYOUTS", "detect_layout"]

BlockMatcher = type | str | Callable[[str, nn.Module], bool]


@dataclass(frozen=True)
class AuditedBlock:
    """One block found in a model: its module, the pieces the audit probes, and its place."""

    name: str  # module path, e.g. "features.6.0"
    stage: int  # 1-based, as in the paper
    index: int  # 0-based inside its stage: even blocks use regular windows
    module: nn.Module
    norm: nn.Module
    qkv: nn.Linear
    table: nn.Parameter  # ((2P-1)(2M-1)(2M-1), nH)
    window_size: tuple[int, int, int]
    shift_size: tuple[int, int, int]

    @property
    def num_heads(self) -> int:
        return self.table.shape[1]

    @property
    def label(self) -> str:
        return f"stage {self.stage}, block {self.index}"


def _attr(obj: object, path: str, what: str, layout: str, block: str) -> object:
    try:
        return reduce(getattr, path.split("."), obj)
    except AttributeError:
        raise AttributeError(
            f"layout {layout!r}: block {block!r} ({type(obj).__name__}) has no attribute {path!r} "
            f"(the {what}, Layout.{what})"
        ) from None


@dataclass(frozen=True)
class Layout:
    """Attribute paths, from a block, to the pieces the audit probes (see the module docstring).

    Args:
        name: shown in the report.
        block: the block class, its class name, or ``predicate(module_name, module) -> bool``.
        norm, qkv, table, window, shift: attribute paths from the block.
        readable: optional ``context(model)`` entered around the audit (e.g. to switch a model to
            the route whose steps the protocol describes).
    """

    name: str
    block: BlockMatcher
    norm: str = "norm1"
    qkv: str = "attn.qkv"
    table: str = "attn.relative_position_bias_table"
    window: str = "window_size"
    shift: str = "shift_size"
    readable: Callable[[nn.Module], contextlib.AbstractContextManager] | None = field(
        default=None, compare=False
    )

    def is_block(self, name: str, module: nn.Module) -> bool:
        if isinstance(self.block, type):
            return isinstance(module, self.block)
        if isinstance(self.block, str):
            return type(module).__name__ == self.block
        return bool(self.block(name, module))

    def blocks(self, model: nn.Module) -> list[AuditedBlock]:
        """Every block of ``model`` in forward order, numbered by stage (its parent) and position."""
        found = [(name, m) for name, m in model.named_modules() if name and self.is_block(name, m)]
        parents: dict[str, int] = {}
        count: dict[str, int] = {}
        out = []
        for name, m in found:
            parent = name.rpartition(".")[0]
            stage = parents.setdefault(parent, len(parents) + 1)
            index = count.get(parent, 0)
            count[parent] = index + 1
            norm, qkv, table, window, shift = (
                _attr(m, getattr(self, what), what, self.name, name)
                for what in ("norm", "qkv", "table", "window", "shift")
            )
            window = triple(tuple(window), f"{name}.{self.window}")
            out.append(
                AuditedBlock(name, stage, index, m, norm, qkv, table, window, shift_triple(tuple(shift)))
            )
        return out


@contextlib.contextmanager
def _readable_route(model: nn.Module) -> Iterator[None]:
    """This library's blocks on their readable route (the seven steps of chapter 7) while auditing."""
    blocks = [m for m in model.modules() if isinstance(m, VideoSwinBlock)]
    routes = [b.fast for b in blocks]
    for b in blocks:
        b.fast = False
    try:
        yield
    finally:
        for b, fast in zip(blocks, routes, strict=True):
            b.fast = fast


def _is_torchvision_block(name: str, module: nn.Module) -> bool:
    from torchvision.models.swin_transformer import SwinTransformerBlock
    from torchvision.models.video.swin_transformer import ShiftedWindowAttention3d

    return isinstance(module, SwinTransformerBlock) and isinstance(module.attn, ShiftedWindowAttention3d)


_OFFICIAL_NAME = re.compile(r"(^|\.)layers\.\d+\.blocks\.\d+$")


def _is_official_block(name: str, module: nn.Module) -> bool:
    attn = getattr(module, "attn", None)
    return (
        bool(_OFFICIAL_NAME.search(name))
        and hasattr(module, "norm1")
        and hasattr(attn, "qkv")
        and hasattr(attn, "relative_position_bias_table")
    )


def _is_vswin_edu_block(name: str, module: nn.Module) -> bool:
    return isinstance(module, VideoSwinBlock)


LAYOUTS: dict[str, Layout] = {
    "vswin_edu": Layout(
        "vswin_edu", _is_vswin_edu_block, table="attn.relpos.relative_position_bias_table",
        readable=_readable_route,
    ),
    "torchvision": Layout(
        "torchvision", _is_torchvision_block, window="attn.window_size", shift="attn.shift_size"
    ),
    "official": Layout("official", _is_official_block),
}  # fmt: skip


def detect_layout(model: nn.Module, implementation: str | Layout = "auto") -> Layout:
    """The layout to audit ``model`` with: the one named, or the first built-in one that finds blocks."""
    if isinstance(implementation, Layout):
        return implementation
    if implementation != "auto":
        if implementation not in LAYOUTS:
            raise ValueError(
                f"implementation must be 'auto', one of {sorted(LAYOUTS)} or a Layout, got {implementation!r}"
            )
        return LAYOUTS[implementation]
    for layout in LAYOUTS.values():
        if any(layout.is_block(n, m) for n, m in model.named_modules() if n):
            return layout
    raise ValueError(
        f"no Video Swin blocks found in {type(model).__name__}: none of the built-in layouts "
        f"{sorted(LAYOUTS)} matches; describe your blocks with vswin_edu.audit.Layout(...) and pass it "
        "as implementation="
    )
