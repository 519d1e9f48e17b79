"""Exercises with automatic checkers, one module per chapter (``ch00`` ... ``ch11``).

In a notebook::

    from vswin_edu.exercises import TODO, check, hint

    def my_mask(dhw, window, shift):
        return TODO            # a stub: the notebook still runs; check() says "not attempted"

    check("5.1", my_mask)      # ✅ / ❌ with a diagnosis in words
    hint("5.1")                # first hint; call again for the next, then the solution

Checkers print a diagnosis, not a traceback: what was tested, the smallest failing case, expected
vs got, and for known mistakes (flipped roll sign, inverted mask, -inf instead of -100, ...) the
likely cause.  ``check`` also returns the :class:`Report`, whose ``ok`` is True on success.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._core import TODO, Exercise, Mismatch, Report, check, exercise, hint, hints_shown, registry

__all__ = ["TODO", "Exercise", "Mismatch", "Report", "check", "exercise", "hint", "hints_shown", "registry"]

# Register every chapter's exercises (modules named chNN*.py in this package).
for _info in pkgutil.iter_modules(__path__):
    if _info.name.startswith("ch"):
        importlib.import_module(f"{__name__}.{_info.name}")
