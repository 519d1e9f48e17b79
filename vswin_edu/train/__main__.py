"""``python -m vswin_edu.train``: train, fine-tune or evaluate from the command line (also under torchrun).

Examples::

    python -m vswin_edu.train --out-dir runs/micro   # micro model, 6 classes, 120 steps: ~99% val acc
    python -m vswin_edu.train --resume runs/micro/last.pt --out-dir runs/micro   # continue exactly
    python -m vswin_edu.train --resume runs/micro/last.pt --eval-only   # validation metrics only
    python -m vswin_edu.train --model t --amp bf16 --batch-size 8 --frames 32 --size 224 \\
        --drop-path 0.1 --checkpoint-activations                       # Swin-T on a GPU
    python -m vswin_edu.train --dataset folder --data-root videos --num-classes 5 \\
        --finetune runs/micro/last.pt --freeze-stages 1 --out-dir runs/ft   # fine-tune on your videos
    torchrun --nproc_per_node=2 -m vswin_edu.train --steps 100          # DDP (gloo on CPU)

Every ``TrainConfig`` field is a flag (``--batch-size`` for ``batch_size``), written out below with
its help text; the defaults are TrainConfig's own.  The dataset flags choose the synthetic
:class:`~vswin_edu.data.MovingShapes` task or a folder of video files.  ``--out-dir`` receives
``last.pt`` and ``metrics.csv|json`` from :func:`~vswin_edu.train.fit` and, drawn here,
``curves.png``: this command is the one place of :mod:`vswin_edu.train` that imports
:mod:`vswin_edu.viz` (lazily, after training); the loop itself never draws.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from torch.utils.data import DataLoader

from ..data import SHAPE_CLASSES, MovingShapes, VideoFolder
from .checkpoint import CheckpointError, OutDirError, load_checkpoint
from .config import (
    AMP_DTYPES,
    ATTENTION_KINDS,
    FINETUNE_BACKBONE_LR_RATIO,
    ResumeConfigError,
    TrainConfig,
    check_model_flags,
)
from .device import resolve_amp, resolve_device
from .evaluate import evaluate
from .loop import History, build_model, fit

DEFAULTS = TrainConfig()  # the defaults of every training flag: TrainConfig's


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vswin_edu.train",
        description="Train, fine-tune or evaluate a Video Swin Transformer (vswin_edu). "
        "Runs on CPU by default, on CUDA when available; under torchrun it uses DDP.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_flags(parser.add_argument_group("data"))
    parser.add_argument(
        "--eval-only",
        action="store_true",
        help="evaluate the --resume checkpoint on the validation set and exit",
    )
    _add_model_flags(parser.add_argument_group("model (TrainConfig fields)"))
    _add_finetune_flags(parser.add_argument_group("fine-tuning (TrainConfig fields; paper Sec. 4.1)"))
    _add_optimiser_flags(parser.add_argument_group("optimisation (TrainConfig fields)"))
    _add_run_flags(parser.add_argument_group("how it runs, logs and checkpoints (TrainConfig fields)"))
    return parser


def _add_data_flags(data: argparse._ArgumentGroup) -> None:
    data.add_argument(
        "--dataset",
        choices=("synthetic", "folder"),
        default="synthetic",
        help="synthetic: MovingShapes temporal-order task; folder: --data-root/{train,val}/<class>/<video>",
    )
    data.add_argument("--data-root", type=Path, help="root of the video folders (--dataset folder)")
    data.add_argument(
        "--train-samples", type=int, default=384, help="synthetic training clips (default: %(default)s)"
    )
    data.add_argument(
        "--val-samples", type=int, default=128, help="synthetic validation clips (default: %(default)s)"
    )
    data.add_argument(
        "--frames", type=int, default=16, help="frames per clip T (default: %(default)s; paper: 32)"
    )
    data.add_argument(
        "--size", type=int, default=32, help="synthetic frame size H = W in pixels (default: %(default)s)"
    )
    data.add_argument(
        "--stride", type=int, default=2, help="temporal stride of video-file clips (default: %(default)s)"
    )
    data.add_argument(
        "--classes",
        help="comma-separated synthetic classes (default: the first --num-classes of "
        + ",".join(SHAPE_CLASSES)
        + ")",
    )


def _add_model_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--model",
        default=DEFAULTS.model,
        help="model preset of vswin_edu.model.PRESETS (micro, t, s, b, l) (default: %(default)s)",
    )
    group.add_argument(
        "--num-classes",
        type=int,
        default=None,  # None: not typed; resolve_num_classes decides
        help=f"number of classes of the classifier head (default: {DEFAULTS.num_classes}, "
        "or the number of --classes)",
    )
    group.add_argument(
        "--window-size",
        type=int,
        nargs=3,
        metavar=("P", "M", "M"),
        help="window (P, M, M); default: the preset's",
    )
    group.add_argument(
        "--shift-size",
        type=int,
        nargs=3,
        metavar=("D", "H", "W"),
        help="shift (D, H, W) of the odd blocks, e.g. 0 3 3 for no temporal shift; default: half the window",
    )
    group.add_argument(
        "--attention",
        choices=ATTENTION_KINDS,
        default=DEFAULTS.attention,
        help="joint (P, M, M) windows, or factorised: (1, M, M) then (P, 1, 1) (default: %(default)s)",
    )
    group.add_argument(
        "--drop-path", type=float, help="stochastic-depth rate; default: the preset's (0.1 for Swin-T)"
    )


def _add_finetune_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--finetune",
        metavar="CKPT",
        help="start from the weights of CKPT: a vswin_edu.train checkpoint, or a model state dict in our, "
        "torchvision's or the official layout; its head is replaced if --num-classes differs",
    )
    group.add_argument(
        "--backbone-lr-ratio",
        type=float,
        help=f"the backbone's learning rate / the head's; default: {FINETUNE_BACKBONE_LR_RATIO} with "
        "--finetune (the paper's), "
        "else one learning rate for all",
    )
    group.add_argument(
        "--freeze-stages",
        type=int,
        default=DEFAULTS.freeze_stages,
        metavar="N",
        help="with --finetune: freeze the patch embedding and the first N stages "
        "(default: %(default)s: none)",
    )


def _add_optimiser_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--epochs",
        type=int,
        default=DEFAULTS.epochs,
        help="passes over the training set (ignored when --steps is given) (default: %(default)s)",
    )
    group.add_argument("--steps", type=int, help="total optimizer steps; overrides --epochs (default: None)")
    group.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS.batch_size,
        help="global batch per optimizer step (over all processes and micro-batches) (default: %(default)s)",
    )
    group.add_argument(
        "--grad-accum",
        type=int,
        default=DEFAULTS.grad_accum,
        help="micro-batches accumulated into one optimizer step (default: %(default)s)",
    )
    group.add_argument(
        "--lr",
        type=float,
        default=DEFAULTS.lr,
        help="peak AdamW learning rate; 2e-3 suits the micro model (paper: 1e-3 at batch 64) "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--weight-decay",
        type=float,
        default=DEFAULTS.weight_decay,
        help="AdamW weight decay (not applied to norms, biases, bias tables) (default: %(default)s)",
    )
    group.add_argument(
        "--warmup-steps",
        type=int,
        default=DEFAULTS.warmup_steps,
        help="linear warm-up steps before the cosine decay (paper: 2.5 epochs) (default: %(default)s)",
    )
    group.add_argument(
        "--min-lr-ratio",
        type=float,
        default=DEFAULTS.min_lr_ratio,
        help="the cosine schedule decays to lr * min_lr_ratio (default: %(default)s)",
    )
    group.add_argument(
        "--label-smoothing",
        type=float,
        default=DEFAULTS.label_smoothing,
        help="label smoothing of the cross-entropy loss (default: %(default)s)",
    )
    group.add_argument(
        "--max-grad-norm", type=float, help="clip the gradient norm to this value; default: no clipping"
    )


def _add_run_flags(group: argparse._ArgumentGroup) -> None:
    on_off = argparse.BooleanOptionalAction  # --fast / --no-fast
    group.add_argument(
        "--amp",
        choices=(*AMP_DTYPES, "auto"),
        help="mixed precision: bf16 or fp16 (fp16 uses a GradScaler); auto: bf16 where the device has bf16 "
        "matrix units (CUDA, or a CPU with AMX / AVX-512-BF16), else fp32 (default: None, fp32)",
    )
    group.add_argument(
        "--fast",
        action=on_off,
        default=DEFAULTS.fast,
        help="run the blocks by the fast route (vswin_edu.fast; same numbers); --no-fast: the readable steps "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--compile",
        action=on_off,
        default=DEFAULTS.compile,
        help="torch.compile the model (slow to compile on CPU) (default: %(default)s)",
    )
    group.add_argument(
        "--checkpoint-activations",
        action=on_off,
        default=DEFAULTS.checkpoint_activations,
        help="recompute block activations in backward to save memory (default: %(default)s)",
    )
    group.add_argument(
        "--device",
        default=DEFAULTS.device,
        help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N (default: %(default)s)",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS.seed,
        help="seed of the weights, the data order, drop-path and the DataLoader workers "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--num-workers",
        type=int,
        default=DEFAULTS.num_workers,
        help="DataLoader worker processes per training process (default: %(default)s)",
    )
    group.add_argument(
        "--eval-every", type=int, help="evaluate (and log a row) every N steps; default: every epoch"
    )
    group.add_argument(
        "--checkpoint-every", type=int, help="write out_dir/last.pt every N steps; default: every epoch"
    )
    group.add_argument(
        "--out-dir",
        help="folder for last.pt and metrics.csv/json (the CLI adds curves.png); none: no files "
        "(default: None)",
    )
    group.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also log every row's loss, accuracy, lr and clips/s as TensorBoard scalars in DIR "
        "(needs pip install tensorboard; default: None)",
    )
    group.add_argument(
        "--resume",
        help="checkpoint to resume from (exactly: same weights as never stopping) (default: None)",
    )
    group.add_argument(
        "--stop-at",
        type=int,
        help="stop after this step (checkpointing first), as if interrupted (default: None)",
    )
    group.add_argument(
        "--progress",
        action=on_off,
        default=DEFAULTS.progress,
        help="show tqdm progress bars (turn off for deterministic notebook output) (default: %(default)s)",
    )


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
    if args.num_classes is not None:
        return args.num_classes
    classes = class_names(args)
    return len(classes) if classes else DEFAULTS.num_classes


def check_data_flags(args: argparse.Namespace) -> None:
    """Every data flag in range (``--val-samples 0`` would report a validation loss of 0.0)."""
    for name, low in DATA_MINIMA.items():
        value = getattr(args, name)
        if value < low:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")


def make_datasets(args: argparse.Namespace) -> tuple:
    """(train_set, val_set) for the dataset flags; ``args.num_classes`` not typed becomes the number
    of ``--classes`` or of class folders."""
    check_data_flags(args)
    if args.dataset == "folder":
        return video_folders(args)
    args.num_classes = resolve_num_classes(args)
    classes = class_names(args) or list(SHAPE_CLASSES)[: args.num_classes]
    if len(classes) != args.num_classes:
        raise ValueError(
            f"--num-classes is {args.num_classes} but {len(classes)} classes were chosen: {classes}"
        )
    train = MovingShapes(args.train_samples, args.frames, args.size, classes, seed=args.seed)
    val = MovingShapes(args.val_samples, args.frames, args.size, classes, seed=args.seed + 10_000)
    return train, val


def video_folders(args: argparse.Namespace) -> tuple[VideoFolder, VideoFolder]:
    """``--data-root``'s ``train/`` and ``val/``: the same class folders, ``--num-classes`` of them
    (a label beyond the head's outputs would fail mid-epoch, not before the first step)."""
    if args.data_root is None:
        raise ValueError("--dataset folder needs --data-root (with train/ and val/ class folders)")
    train = VideoFolder(args.data_root / "train", args.frames, args.stride, mode="random", seed=args.seed)
    val = VideoFolder(args.data_root / "val", args.frames, args.stride, mode="center")
    classes = list(train.class_names)
    if list(val.class_names) != classes:
        raise ValueError(
            f"--data-root {args.data_root}: train/ has the class folders {classes} but val/ has "
            f"{list(val.class_names)}; give both the same classes"
        )
    if args.num_classes is None:
        args.num_classes = len(classes)
    if args.num_classes != len(classes):
        raise ValueError(
            f"--num-classes is {args.num_classes} but --data-root {args.data_root}/train has "
            f"{len(classes)} class folders: {classes}"
        )
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
    if args.amp == "auto":
        try:
            args.amp = resolve_amp("auto", resolve_device(args.device))
        except ValueError as err:
            parser.error(str(err))
        print(f"--amp auto: {args.amp or 'fp32'} on this device", file=sys.stderr)
    # Bad flags are said in one line before any work starts (argparse's "error: ..."), not as a
    # traceback: the data flags, flag values, the device, the output folders, the checkpoints.
    try:
        train_set, val_set = make_datasets(args)  # lazy: nothing is decoded or drawn yet
        config = TrainConfig.from_dict({f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        device = resolve_device(config.device)
        if args.eval_only and config.resume is None:
            raise ValueError("--eval-only needs --resume PATH (the checkpoint to evaluate)")
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
    except (CheckpointError, OutDirError, ResumeConfigError, ImportError) as err:
        parser.error(str(err))  # ImportError: an optional package (tensorboard) with its install hint
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
