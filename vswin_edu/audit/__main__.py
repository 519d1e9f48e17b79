"""Audit a Video Swin model from the shell: ``python -m vswin_edu.audit MODEL --input BxCxTxHxW``.

MODEL is ``torchvision:swin3d_t`` (or ``_s``, ``_b``; random weights: the audit reads geometry
and indexing, not learned values), ``vswin_edu:t`` (a preset of :mod:`vswin_edu.config`: ``t, s, b,
l, micro``), or the path of a vswin_edu checkpoint.  Prints one line per block (or ``--json``),
writes the summary figure with ``--png``; exits 1 when a block is wrong, 0 when all agree.
``--benchmark`` also times the audit against a plain forward pass of the same model and clip.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .._checks import parse_input_shape
from . import LAYOUTS, audit

TORCHVISION_MODELS = ("swin3d_t", "swin3d_s", "swin3d_b")


def build_model(spec: str) -> nn.Module:
    """The model a MODEL argument names (see the module docstring), with seeded random weights."""
    torch.manual_seed(0)
    kind, _, name = spec.partition(":")
    if kind == "torchvision" and name in TORCHVISION_MODELS:
        import torchvision

        return getattr(torchvision.models.video, name)()
    if kind == "vswin_edu" and name:
        from ..model import build

        return build(name)
    if Path(spec).is_file():
        from .. import load

        return load(spec)
    raise ValueError(
        f"MODEL must be torchvision:{{{','.join(TORCHVISION_MODELS)}}}, vswin_edu:PRESET (t, s, b, l, micro) "
        f"or an existing checkpoint file, got {spec!r}"
    )


def benchmark(model: nn.Module, shape: tuple[int, ...], repeats: int = 2) -> str:
    """Best-of-``repeats`` seconds of a plain eval forward and of :func:`audit`, and their ratio."""
    video = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()

    def best(run) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    with torch.no_grad():
        forward = best(lambda: model(video))
    audited = best(lambda: audit(model, video))
    model.train(was_training)
    return (
        f"plain forward {forward:.2f} s, audit {audited:.2f} s: {audited / forward:.2f}x (best of {repeats})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vswin_edu.audit", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="torchvision:swin3d_t, vswin_edu:t, or a checkpoint path")
    parser.add_argument(
        "--input", default="1x3x16x224x224", help="clip shape BxCxTxHxW (default %(default)s)"
    )
    parser.add_argument("--implementation", default="auto", choices=("auto", *LAYOUTS))
    parser.add_argument("--png", type=Path, help="write the summary figure (one row per block) here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--benchmark", action="store_true", help="time the audit against a plain forward pass"
    )
    args = parser.parse_args(argv)
    try:
        shape = parse_input_shape(args.input)
        model = build_model(args.model)
    except ValueError as error:
        parser.error(str(error))
    report = audit(model, input_shape=shape, implementation=args.implementation)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    if args.png:
        from ..viz import plot_audit

        args.png.parent.mkdir(parents=True, exist_ok=True)
        plot_audit(report).savefig(args.png, dpi=120)
        print(f"wrote {args.png}", file=sys.stderr)
    if args.benchmark:
        print(benchmark(model, shape), file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
