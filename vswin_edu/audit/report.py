"""The audit's answer: one row per block (W/SW, grid, window, shift, OK or what is wrong)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..geometry import WindowGeometry
from .checks import Finding

__all__ = ["BlockAudit", "AuditReport"]

Size3 = tuple[int, int, int]
CHECKS = ("windows", "shift", "mask", "bias")  # the columns of the summary


@dataclass
class BlockAudit:
    """One block: where it is, what the oracle expects, what it did, and what differs.

    ``geometry`` is the oracle's (clamped window, shift, padded grid) for the block's ``grid``;
    ``mask`` ``(nW, N, N)`` the additive mask the block used (head 0, clip 0), ``index`` ``(N, N)`` the
    table rows its pairs read (NaN where masked).
    """

    name: str
    stage: int
    index: int
    grid: Size3
    window_size: Size3  # configured
    shift_size: Size3  # configured
    geometry: WindowGeometry
    findings: list[Finding] = field(default_factory=list)
    mask: torch.Tensor | None = field(default=None, repr=False)
    bias_index: torch.Tensor | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """``"W-MSA"`` for an even block of its stage, ``"SW-MSA"`` for an odd one (paper Sec. 3.2)."""
        return "SW-MSA" if self.index % 2 else "W-MSA"

    @property
    def label(self) -> str:
        return f"stage {self.stage}, block {self.index}"

    @property
    def ok(self) -> bool:
        return not any(f.severity == "wrong" for f in self.findings)

    def status(self, check: str | None = None) -> str:
        """``"ok"``, ``"warning"`` or ``"wrong"`` for the block, or for one check of ``CHECKS``."""
        found = [f for f in self.findings if check is None or f.check.split()[0] == check]
        if any(f.severity == "wrong" for f in found):
            return "wrong"
        return "warning" if found else "ok"

    def describe(self) -> str:
        geo = self.geometry
        head = (
            f"{self.label} ({self.name}, {self.kind}): grid {self.grid}, window {geo.window}, "
            f"shift {geo.shift}" + (f", padded to {geo.padded}" if geo.padded != self.grid else "")
        )
        if not self.findings:
            return f"{head}: OK"
        return "\n".join(
            [f"{head}: {self.status().upper()}"] + [f"  - {f.describe()}" for f in self.findings]
        )

    def to_dict(self) -> dict[str, Any]:
        geo = self.geometry
        return {
            "name": self.name, "stage": self.stage, "block": self.index, "kind": self.kind,
            "grid": list(self.grid), "window_size": list(self.window_size),
            "shift_size": list(self.shift_size), "effective_window": list(geo.window),
            "effective_shift": list(geo.shift), "padded": list(geo.padded),
            "status": self.status(), "checks": {c: self.status(c) for c in CHECKS},
            "findings": [{k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(f).items()}
                         | {"text": f.describe()} for f in self.findings],
        }  # fmt: skip


@dataclass
class AuditReport:
    """Every block of one model, audited (:func:`vswin_edu.audit.audit`)."""

    implementation: str
    model: str
    input_shape: tuple[int, ...]
    blocks: list[BlockAudit]

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.blocks)

    @property
    def wrong(self) -> list[BlockAudit]:
        return [b for b in self.blocks if not b.ok]

    def first_wrong(self) -> tuple[BlockAudit, Finding] | None:
        """The first wrong block in forward order and its first wrong finding, or ``None``."""
        for b in self.blocks:
            for f in b.findings:
                if f.severity == "wrong":
                    return b, f
        return None

    def block(self, key: int | str | tuple[int, int]) -> BlockAudit:
        """A block by position (``int``), module name (``"features.6.0"``) or ``(stage, index)``."""
        if isinstance(key, int) and not isinstance(key, bool):
            if not -len(self.blocks) <= key < len(self.blocks):
                raise ValueError(f"block must be in [0, {len(self.blocks)}), got {key}")
            return self.blocks[key]
        for b in self.blocks:
            if key in (b.name, (b.stage, b.index)):
                return b
        names = ", ".join(f"{b.name} = {(b.stage, b.index)}" for b in self.blocks)
        raise ValueError(f"no block {key!r} in this report; blocks: {names}")

    def summary(self) -> str:
        first = self.first_wrong()
        if first is None:
            verdict = "every block matches the oracles"
        else:
            block, finding = first
            wrong = f"{len(self.wrong)} of {len(self.blocks)} blocks wrong"
            verdict = f"{wrong}; first: {block.label} — {finding.describe()}"
        shape = "x".join(str(n) for n in self.input_shape)
        return f"audit of {self.model} ({self.implementation} layout) on {shape}: {verdict}"

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(b.describe() for b in self.blocks)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "implementation": self.implementation, "model": self.model, "input_shape": list(self.input_shape),
            "ok": self.ok, "summary": self.summary(), "blocks": [b.to_dict() for b in self.blocks],
        }  # fmt: skip
