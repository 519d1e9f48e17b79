"""Atomic checkpoints and the RNG states that make resuming exact (chapter 11).

A checkpoint is a dict of tensors and primitive containers only, so it loads with
``torch.load(..., weights_only=True)`` — no pickled code runs when a file is opened.  It is
written to a temporary file in the same folder and then renamed over the old one (``os.replace``
is atomic on POSIX and Windows): a crash mid-write leaves the previous checkpoint intact.

Exact resume needs every source of randomness: Python's ``random``, NumPy's global generator,
torch's CPU generator (drop-path, dropout) and every CUDA generator.  The data order needs no
saved state: each epoch's permutation is a function of ``(seed, epoch)`` (like
``DistributedSampler``), so the loop recomputes it and skips the batches already seen.
"""

from __future__ import annotations

import glob
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import check_torch_file

CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "scaler", "rng", "step", "epoch", "config", "history")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or lacks what a resume needs, or pre-trained weights
    (``--finetune``) that do not fit the model."""


def get_rng_state() -> dict[str, Any]:
    """Every global RNG state, as tensors and primitives (``weights_only``-loadable)."""
    version, mt_state, gauss_next = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": {
            "version": version,
            "state": torch.tensor(mt_state, dtype=torch.int64),
            "gauss": gauss_next,
        },
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state(
        (nps["name"], nps["keys"].numpy().astype(np.uint32), nps["pos"], nps["has_gauss"], nps["gauss"])
    )
    # generator states are CPU ByteTensors whatever device the model is on (a checkpoint loaded
    # with map_location="cuda" would carry them on the GPU, which set_rng_state refuses)
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."  # save_checkpoint's temporaries: .last.pt.<random>.tmp


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: temp file in the same folder, fsync, ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(path: str | Path, others: tuple[str, ...] = ()) -> list[Path]:
    """Delete the temporary files an interrupted :func:`save_checkpoint` of ``path`` left behind
    (a ``kill -9`` mid-write skips its clean-up), and the folder's ``others`` (exact names, e.g. the
    metrics' ``.metrics.csv.tmp``); returns what was removed.  ``path`` itself is never touched."""
    path = Path(path)
    stale = [p for p in path.parent.glob(f"{glob.escape(_temp_prefix(path))}*.tmp") if p.is_file()]
    stale += [path.parent / name for name in others if (path.parent / name).is_file()]
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


class OutDirError(OSError):
    """The output folder cannot be created or written (said before the first training step)."""


def prepare_out_dir(out_dir: str | Path, flag: str = "out_dir (--out-dir)") -> Path:
    """Create ``out_dir`` if needed and prove it writable by writing and deleting a probe file.

    Raises :class:`OutDirError` saying what is wrong — the path is a file, a parent is a file, a
    parent or the folder itself is read-only — instead of failing after a whole epoch of training.
    """
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise OutDirError(f"{flag} {path} is a file, not a folder: choose another path or remove the file")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutDirError(f"{flag} {path} cannot be created: {blocking} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        parent = next((p for p in path.parents if p.exists()), path)
        raise OutDirError(
            f"{flag} {path} cannot be created ({err.strerror or err}): is {parent} writable?"
        ) from err
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutDirError(
            f"{flag} {path} is not writable ({err.strerror or err}): checkpoints and metrics go there; "
            "choose a writable folder"
        ) from err
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Load on the CPU (the default) and move what needs moving: ``fit`` does, so the RNG states stay
    CPU tensors and a run trained on a GPU resumes on a laptop and vice versa.  Raises
    :class:`CheckpointError` naming the file if it is missing, not a PyTorch file, truncated,
    corrupted or lacks one of :data:`CHECKPOINT_KEYS`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        check_torch_file(path)
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {path} could not be loaded ({type(err).__name__}: {err}); the file is "
            "truncated or corrupted — resume from an earlier copy or start afresh"
        ) from err
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} is not a vswin_edu.train checkpoint: missing {missing}")
    return state
