"""The training log: ``metrics.csv`` and ``metrics.json``, one row per evaluation of ``fit`` (chapter 11),
and optionally the same rows as TensorBoard scalars (``--tensorboard DIR``).

Both files are rewritten atomically (a temporary file renamed over the old one) after every row, so
a run that crashes keeps its log.  Nothing here draws: the learning curves are
``vswin_edu.viz.plot_learning_curves(rows)``, which ``python -m vswin_edu.train`` saves as
``curves.png`` next to these files (or ``tensorboard --logdir DIR`` shows them live).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import TrainConfig

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

METRICS_FILES = ("metrics.csv", "metrics.json")
METRICS_TEMPORARIES = tuple(f".{name}.tmp" for name in METRICS_FILES)  # removed at the start of a run
# The TensorBoard tag of each row field: training and validation side by side in one chart.
TENSORBOARD_TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/val",
    "lr": "lr",
    "clips_per_s": "throughput/clips_per_s",
}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_metrics(out_dir: Path, rows: list[dict[str, Any]], config: TrainConfig) -> None:
    """metrics.csv (one row per evaluation) and metrics.json (the same rows and the config)."""
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    _write_atomic(out_dir / "metrics.csv", buffer.getvalue())
    _write_atomic(out_dir / "metrics.json", json.dumps({"config": config.to_dict(), "rows": rows}, indent=1))


def open_tensorboard(log_dir: str | Path) -> SummaryWriter:
    """A ``torch.utils.tensorboard.SummaryWriter`` writing event files into ``log_dir``."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
    except ImportError as err:
        raise ImportError(
            "tensorboard (--tensorboard) needs the tensorboard package: pip install tensorboard "
            "(it comes with pip install 'vswin-edu[dev]')"
        ) from err
    return SummaryWriter(str(log_dir))


def write_tensorboard(writer: SummaryWriter, row: dict[str, Any]) -> None:
    """One row as scalars at its ``step`` (:data:`TENSORBOARD_TAGS`; fields it lacks are skipped)."""
    for key, tag in TENSORBOARD_TAGS.items():
        if row.get(key) is not None:
            writer.add_scalar(tag, row[key], global_step=row["step"])
    writer.flush()  # a crashed run keeps its scalars, like metrics.csv
