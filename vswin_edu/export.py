"""Export a Video Swin for deployment: ``torch.export`` programs and ONNX (the dynamo exporter).

The model is exported in eval mode on the fast route (:mod:`vswin_edu.fast`), so the graph holds the
cached permutations and the (at most 8) mask patterns of each block as constants; the caller's
model is left in its own mode and route afterwards.

**What is dynamic.**  The batch size (1 to :data:`MAX_BATCH`).  Frames, height and width are fixed
when you export: each block's effective window, padding and masks are worked out in Python from
the grid (paper Sec. 3.2; chapters 3-5), so another clip size needs another export.  Export once per
input size you serve (a 16×224² and a 32×224² file, say).

Command line::

    python -m vswin_edu.export --format onnx OUT.onnx [--checkpoint CKPT | --model t --num-classes 400]
                               [--input 1x3x16x224x224]
    python -m vswin_edu.export --format pt2 OUT.pt2 ...     # torch.export.save, load with torch.export.load

Without ``--checkpoint`` the model has random weights (a file for testing a serving stack).
The ONNX file runs in onnxruntime (``pip install onnxruntime``); the tests compare its logits with
eager PyTorch on two input sizes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ._checks import parse_input_shape
from .fast import clear_caches

__all__ = ["MAX_BATCH", "export_onnx", "export_program", "main", "parse_input_shape"]

MAX_BATCH = 1024


def _example_args(example: torch.Tensor, dynamic_batch: bool) -> tuple[torch.Tensor]:
    if example.dim() != 5:
        raise ValueError(f"example must be a video (B, C, T, H, W), got shape {tuple(example.shape)}")
    # torch.export specialises a size-1 dimension, so a batch of one traces with a batch of two
    if dynamic_batch and example.shape[0] == 1:
        example = example.expand(2, *example.shape[1:]).clone()
    return (example,)


@contextmanager
def _exporting(model: nn.Module, args: tuple[torch.Tensor]) -> Iterator[None]:
    """Trace in eval mode on the fast route, with its caches filled by one eager call; afterwards the
    model's mode and route are what they were and the caches are empty.

    Filled caches put the permutations and mask patterns into the graph as constants (not the
    argsort that builds them); emptying them leaves no traced (fake) tensor for later eager calls.
    """
    was_training, was_fast = model.training, getattr(model.config, "fast", None)
    model.eval()
    if was_fast is not None:
        model.use_fast_path()
    clear_caches()
    try:
        with torch.no_grad():
            model(*args)
            yield
    finally:
        clear_caches()
        model.train(was_training)
        if was_fast is not None:
            model.use_fast_path(was_fast)


def _dynamic(dynamic_batch: bool) -> dict[str, dict[int, torch.export.Dim]] | None:
    return {"video": {0: torch.export.Dim("batch", min=1, max=MAX_BATCH)}} if dynamic_batch else None


def export_program(
    model: nn.Module, example: torch.Tensor, *, dynamic_batch: bool = True
) -> torch.export.ExportedProgram:
    """``torch.export.export`` of ``model`` on clips shaped like ``example`` ``(B, C, T, H, W)``."""
    args = _example_args(example, dynamic_batch)
    with _exporting(model, args):
        return torch.export.export(model, args, dynamic_shapes=_dynamic(dynamic_batch))


def export_onnx(
    model: nn.Module, example: torch.Tensor, path: str | Path, *, dynamic_batch: bool = True
) -> Path:
    """Write ``model`` as ONNX to ``path`` (``torch.onnx.export(..., dynamo=True)``); input ``video``,
    output ``logits``, batch dynamic."""
    args = _example_args(example, dynamic_batch)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exporting(model, args):
        torch.onnx.export(
            model,
            args,
            str(path),
            dynamo=True,
            input_names=["video"],
            output_names=["logits"],
            dynamic_shapes=_dynamic(dynamic_batch),
            verbose=False,
        )
    return path


def _model(args: argparse.Namespace) -> nn.Module:
    if args.checkpoint:
        from . import load

        return load(args.checkpoint)
    from .model import build

    overrides = {} if args.num_classes is None else {"num_classes": args.num_classes}
    print(f"no --checkpoint: exporting {args.model} with random weights", file=sys.stderr)
    return build(args.model, **overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vswin_edu.export", description=__doc__.split("\n")[0])
    parser.add_argument("output", help="file to write (.onnx or .pt2)")
    parser.add_argument("--format", choices=("onnx", "pt2"), default="onnx")
    parser.add_argument(
        "--checkpoint", help="a checkpoint vswin_edu.load() reads (ours, torchvision, official)"
    )
    parser.add_argument("--model", default="t", help="preset when no --checkpoint: t, s, b, l, micro")
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument(
        "--input", default="1x3x16x224x224", help="example shape BxCxTxHxW (T, H, W are fixed)"
    )
    parser.add_argument("--static-batch", action="store_true", help="fix the batch size too")
    args = parser.parse_args(argv)
    try:
        shape = parse_input_shape(args.input)
        model = _model(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    example = torch.randn(shape)
    if args.format == "onnx":
        path = export_onnx(model, example, args.output, dynamic_batch=not args.static_batch)
    else:
        path = Path(args.output)
        torch.export.save(export_program(model, example, dynamic_batch=not args.static_batch), path)
    print(
        f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): input video {shape[1:]} "
        f"with {'a fixed' if args.static_batch else 'any'} batch size"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
