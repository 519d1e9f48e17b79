"""The training log: ``metrics.csv`` and ``metrics.json``, one row per evaluation of ``fit`` (chapter 11).

Both files are rewritten atomically (a temporary file renamed over the old one) after every row, so
a run that crashes keeps its log.  Nothing here draws: the learning curves are
``vswin_edu.viz.plot_learning_curves(rows)``, which ``python -m vswin_edu.train`` saves as
``curves.png`` next to these files.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from .config import TrainConfig

METRICS_FILES = ("metrics.csv", "metrics.json")
METRICS_TEMPORARIES = tuple(f".{name}.tmp" for name in METRICS_FILES)  # removed at the start of a run


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
