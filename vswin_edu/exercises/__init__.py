"""Exercises with automatic checkers, one module per chapter (``ch00`` ... ``ch13``).

In a notebook::

    from vswin_edu.exercises import TODO, check, hint

    def my_mask(dhw, window, shift):
        return TODO            # a stub: the notebook still runs; check() says "not attempted"

    check("5.1", my_mask)      # ✅ / ❌ with a diagnosis in words
    hint("5.1")                # first hint; call again for the next, then the solution

Checkers print a diagnosis, not a traceback: what was tested, the smallest failing case, expected
vs got, and for known mistakes (flipped roll sign, inverted mask, -inf instead of -100, ...) the
likely cause.  ``check`` also returns the :class:`Report`, whose ``ok`` is True on success and
whose ``status`` is one of passed / failed / not attempted / timed out / exited / error.

``check`` runs the answer under a time limit (``time_limit=``, default 10 s): an endless loop is
reported as "timed out after 10 s" and a ``sys.exit()`` as "your function exited" — the kernel
survives both.  ``registry()[id].stub`` is the exercise's stub, derived from its reference
solution (same signature, ``return TODO``); learner copies of the chapters are built from it.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._core import (
    DEFAULT_TIME_LIMIT,
    TODO,
    Exercise,
    Mismatch,
    Report,
    check,
    exercise,
    hint,
    hints_shown,
    registry,
)

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "TODO",
    "Exercise",
    "Mismatch",
    "Report",
    "check",
    "exercise",
    "hint",
    "hints_shown",
    "registry",
]

# Register every chapter's exercises (modules named chNN*.py in this package).
for _info in pkgutil.iter_modules(__path__):
    if _info.name.startswith("ch"):
        importlib.import_module(f"{__name__}.{_info.name}")
