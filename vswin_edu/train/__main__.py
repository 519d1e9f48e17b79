"""``python -m vswin_edu.train``: train or evaluate from the command line (also under ``torchrun``).

Examples::

    python -m vswin_edu.train --out-dir runs/micro   # micro model, 6 classes, 120 steps: ~99% val acc
    python -m vswin_edu.train --resume runs/micro/last.pt --out-dir runs/micro   # continue exactly
    python -m vswin_edu.train --resume runs/micro/last.pt --eval-only   # validation metrics only
    python -m vswin_edu.train --model t --amp bf16 --batch-size 8 --frames 32 --size 224 \\
        --drop-path 0.1 --checkpoint-activations                       # Swin-T on a GPU
    torchrun --nproc_per_node=2 -m vswin_edu.train --steps 100          # DDP (gloo on CPU)

Every ``TrainConfig`` field is a flag (``--batch-size`` for ``batch_size``); the dataset flags
choose the synthetic :class:`~vswin_edu.data.MovingShapes` task or a folder of video files.
``--out-dir`` receives ``last.pt`` and ``metrics.csv|json`` from :func:`~vswin_edu.train.fit` and,
drawn here, ``curves.png``: this command is the one place of :mod:`vswin_edu.train` that imports
:mod:`vswin_edu.viz` (lazily, after training); the loop itself never draws.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import MISSING, fields
from pathlib import Path

from torch.utils.data import DataLoader

from ..data import SHAPE_CLASSES, MovingShapes, VideoFolder
from .checkpoint import CheckpointError, OutDirError, load_checkpoint
from .config import ResumeConfigError, TrainConfig, check_model_flags
from .device import resolve_device
from .evaluate import evaluate
from .loop import History, build_model, fit

_SCALARS = {"int": int, "float": float, "str": str}


class _Given(argparse.Action):
    """Store the value and remember that the flag was typed (``args.<dest>_given``)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field; its type is read from the annotation (``int | None`` ...)."""
    group = parser.add_argument_group("training (TrainConfig fields)")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f.metadata["help"]
        help_text += "" if "default" in help_text else f" (default: {default})"
        kind = str(f.type).replace(" | None", "")
        if kind == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif kind.startswith("tuple"):
            axes = ("P", "M", "M") if f.name == "window_size" else ("D", "H", "W")
            group.add_argument(flag, type=int, nargs=3, default=default, metavar=axes, help=help_text)
        elif f.name == "num_classes":  # --classes a,b without --num-classes means 2 classes
            help_text = f.metadata["help"] + f" (default: {default}, or the number of --classes)"
            group.add_argument(flag, type=int, default=default, action=_Given, help=help_text)
        else:
            choices = f.metadata.get("choices")
            group.add_argument(flag, type=_SCALARS[kind], default=default, choices=choices, help=help_text)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vswin_edu.train",
        description="Train or evaluate a Video Swin Transformer (vswin_edu). "
        "Runs on CPU by default, on CUDA when available; under torchrun it uses DDP.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        choices=("synthetic", "folder"),
        default="synthetic",
        help="synthetic: MovingShapes temporal-order task; folder: --data-root/{train,val}/<class>/<video>",
    )
    data.add_argument("--data-root", type=Path, help="root of the video folders (--dataset folder)")
    data.add_argument(
        "--train-samples", type=int, default=384, help="synthetic training clips (default: 384)"
    )
    data.add_argument(
        "--val-samples", type=int, default=128, help="synthetic validation clips (default: 128)"
    )
    data.add_argument("--frames", type=int, default=16, help="frames per clip T (default: 16; paper: 32)")
    data.add_argument(
        "--size", type=int, default=32, help="synthetic frame size H = W in pixels (default: 32)"
    )
    data.add_argument(
        "--stride", type=int, default=2, help="temporal stride of video-file clips (default: 2)"
    )
    data.add_argument(
        "--classes",
        help="comma-separated synthetic classes (default: the first --num-classes of "
        + ",".join(SHAPE_CLASSES)
        + ")",
    )
    parser.add_argument(
        "--eval-only",
        action="store_true",
        help="evaluate the --resume checkpoint on the validation set and exit",
    )
    _add_config_flags(parser)
    return parser


DATA_MINIMA = {"train_samples": 1, "val_samples": 1, "frames": 1, "size": 1, "stride": 1}


def class_names(args: argparse.Namespace) -> list[str] | None:
    """The ``--classes`` list, checked: no empty names, none twice (a class listed twice would get
    two labels for the same clips)."""
    if not args.classes:
        return None
    classes = [c.strip() for c in args.classes.split(",")]
    if "" in classes:
        raise ValueError(f"--classes has an empty name in {args.classes!r}; separate names by single commas")
    twice = sorted({c for c in classes if classes.count(c) > 1})
    if twice:
        raise ValueError(f"--classes lists {twice} more than once: {args.classes!r}; name each class once")
    return classes


def resolve_num_classes(args: argparse.Namespace) -> int:
    """``--num-classes`` as typed, else the number of ``--classes``, else TrainConfig's default."""
    if getattr(args, "num_classes_given", False):
        return args.num_classes
    classes = class_names(args)
    return len(classes) if classes and args.dataset == "synthetic" else args.num_classes


def check_data_flags(args: argparse.Namespace) -> None:
    """Every data flag in range (``--val-samples 0`` would report a validation loss of 0.0)."""
    for name, low in DATA_MINIMA.items():
        value = getattr(args, name)
        if value < low:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")


def make_datasets(args: argparse.Namespace) -> tuple:
    """(train_set, val_set) for the dataset flags."""
    check_data_flags(args)
    args.num_classes = resolve_num_classes(args)
    if args.dataset == "folder":
        if args.data_root is None:
            raise ValueError("--dataset folder needs --data-root (with train/ and val/ class folders)")
        train = VideoFolder(args.data_root / "train", args.frames, args.stride, mode="random", seed=args.seed)
        val = VideoFolder(args.data_root / "val", args.frames, args.stride, mode="center")
        return train, val
    classes = class_names(args) or list(SHAPE_CLASSES)[: args.num_classes]
    if len(classes) != args.num_classes:
        raise ValueError(
            f"--num-classes is {args.num_classes} but {len(classes)} classes were chosen: {classes}"
        )
    train = MovingShapes(args.train_samples, args.frames, args.size, classes, seed=args.seed)
    val = MovingShapes(args.val_samples, args.frames, args.size, classes, seed=args.seed + 10_000)
    return train, val


def write_curves(history: History) -> None:
    """``out_dir/curves.png``: the learning curves of a finished run (rank 0 only; needs matplotlib)."""
    if history.out_dir is None or not history.rows:
        return
    from ..viz.training import plot_learning_curves  # matplotlib only once a plot is written

    plot_learning_curves(history.rows).savefig(history.out_dir / "curves.png", dpi=100)


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser()
    args = parser.parse_args(argv)
    # Bad flags are said in one line before any work starts (argparse's "error: ..."), not as a
    # traceback: flag values, the data flags, the device, the output folder, the checkpoint.
    try:
        args.num_classes = resolve_num_classes(args)
        config = TrainConfig.from_dict({f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        device = resolve_device(config.device)
        if args.eval_only and config.resume is None:
            raise ValueError("--eval-only needs --resume PATH (the checkpoint to evaluate)")
        train_set, val_set = make_datasets(args)
    except (ValueError, TypeError) as err:
        parser.error(str(err))
    try:
        if args.eval_only:
            state = load_checkpoint(config.resume)  # on the CPU; the model moves it to the device
            check_model_flags(state["config"], config, config.resume)
            model = build_model(config)
            model.load_state_dict(state["model"])
            loader = DataLoader(val_set, batch_size=config.batch_size, num_workers=config.num_workers)
            result = evaluate(model.to(device), loader, device, config.amp)
        else:
            history = fit(config, train_set, val_set)
            write_curves(history)
            result = history.final
    except (CheckpointError, OutDirError, ResumeConfigError) as err:
        parser.error(str(err))
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
