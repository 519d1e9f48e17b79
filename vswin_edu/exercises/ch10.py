"""Chapter 10 exercises (the capstone): your parts of chapters 1-8, checked again and then inside a model.

Each exercise asks for the function of an earlier one (same signature, same reference solution) and
checks it twice: first with that exercise's checker (and its diagnoses of known mistakes), then
plugged into a small Video Swin by :func:`vswin_edu.capstone.build_model` and compared layer by
layer with the library's model (:func:`vswin_edu.capstone.compare`).

14.1  patch partition (1.1)        14.5  relative position index (6.1)
14.2  window partition (3.1)       14.6  the attention half of the block (7.2)
14.3  cyclic shift (4.1)           14.7  patch merging (8.1)
14.4  shifted-window mask (5.1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from . import ch01, ch03, ch04, ch05, ch06, ch07, ch08  # noqa: F401  (register the exercises reused here)
from ._core import Mismatch, exercise, registry

# capstone exercise -> (the earlier exercise, the part of vswin_edu.capstone.Parts it fills)
PARTS: dict[str, tuple[str, str]] = {
    "10.1": ("1.1", "patch_partition"),
    "10.2": ("3.1", "window_partition"),
    "10.3": ("4.1", "cyclic_shift"),
    "10.4": ("5.1", "shifted_window_mask"),
    "10.5": ("6.1", "relative_position_index"),
    "10.6": ("7.2", "attention_half"),
    "10.7": ("8.1", "merge_patches"),
}
# A model small enough to check in a fraction of a second, on a clip whose grids pad and shift:
# tokens 3x9x9 -> window (2, 4, 4) pads to 4x12x12, shift (1, 2, 2); stage 2 is 3x5x5 -> 4x8x8.
MODEL = dict(preset="micro", embed_dim=16, num_heads=(2, 4), window_size=(2, 4, 4), num_classes=4)
CLIP = (1, 3, 6, 36, 36)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run on one CPU thread: a model this small is ~10x faster without thread hand-offs (busy CPUs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def in_model(part: str, answer: Callable) -> str:
    """Plug ``answer`` in as ``part`` of a small model; a :class:`Mismatch` names the first wrong layer."""
    from ..capstone import build_model, compare  # lazy: the capstone imports this package
    from ..model import build

    with torch.random.fork_rng(), _one_thread():  # seeded, without touching the learner's global RNG
        torch.manual_seed(14)
        reference = build(MODEL["preset"], **{k: v for k, v in MODEL.items() if k != "preset"}).eval()
        clip = torch.randn(*CLIP)
        mine = build_model({part: answer}, weights=reference.state_dict(), **MODEL).eval()
        table = compare(mine, reference, clip)
    if table.errors:
        raise Mismatch(f"inside the model: {table.errors[0].removeprefix('model_a raised PartError: ')}")
    if not table.ok:
        row = table[table.first_divergence]
        raise Mismatch(
            f"it passes the chapter's checks, but inside a small Video Swin (clip {CLIP}) the first layer "
            f"that differs from the library's model is {row.name} (max |Δ| = {row.max_abs:.1e})."
        )
    return f"inside a small Video Swin (clip {CLIP}) all {len(table.rows)} layers equal the library's model."


def _register(id: str, source: str, part: str) -> None:
    earlier = registry()[source]
    chapter = source.split(".")[0]

    def checker(answer: Any) -> list[str]:
        passed = earlier.checker(answer)
        lines = [passed] if isinstance(passed, str) else list(passed or [])
        return lines + [in_model(part, answer)]

    exercise(
        id,
        f"your {part.replace('_', ' ')} inside the model (exercise {source})",
        hints=[
            f"This is exercise {source} of chapter {chapter} ({earlier.title}): paste your answer from "
            f"there, or write it again. {earlier.hints[0]}",
            earlier.hints[1],
        ],
        solution=earlier.solution,
    )(checker)


for _id, (_source, _part) in PARTS.items():
    _register(_id, _source, _part)
