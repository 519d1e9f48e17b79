"""The machinery behind every exercise: registry, sentinel, reports and tiered hints."""

from __future__ import annotations

import ast
import inspect
import textwrap
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class _Todo:
    """Sentinel returned by unsolved stubs so that a notebook still runs top to bottom."""

    def __repr__(self) -> str:
        return "TODO"

    def __bool__(self) -> bool:
        return False


TODO = _Todo()


class Mismatch(Exception):
    """Raised inside a checker to report what is wrong, in words (not a traceback)."""


@dataclass
class Report:
    """Result of :func:`check`; prints as a short diagnosis, ``ok`` is True on success."""

    exercise: str
    ok: bool
    lines: list[str] = field(default_factory=list)
    attempted: bool = True

    def __str__(self) -> str:
        mark = "✅" if self.ok else ("⏳" if not self.attempted else "❌")
        return "\n".join([f"{mark} Exercise {self.exercise}"] + [f"   {line}" for line in self.lines])

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class Exercise:
    """An exercise: its checker, tiered hints and the reference solution (shown last)."""

    id: str
    title: str
    checker: Callable[[Any], str | list[str] | None]
    hints: list[str]
    solution: str


_REGISTRY: dict[str, Exercise] = {}
_HINTS_SHOWN: dict[str, int] = {}


def registry() -> dict[str, Exercise]:
    """All registered exercises by id (``"5.1"`` is chapter 5, exercise 1)."""
    return dict(_REGISTRY)


def exercise(id: str, title: str, hints: list[str], solution: str):
    """Decorator that registers ``checker(answer)`` as exercise ``id``.

    The checker raises :class:`Mismatch` with a diagnosis when the answer is wrong and returns
    (optionally) a line or lines describing what passed.
    """

    def register(checker: Callable[[Any], str | list[str] | None]):
        if id in _REGISTRY:
            raise ValueError(f"exercise {id!r} is registered twice")
        _REGISTRY[id] = Exercise(id, title, checker, list(hints), solution)
        return checker

    return register


def _get(id: str) -> Exercise:
    if id not in _REGISTRY:
        raise KeyError(f"no exercise {id!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[id]


def check(id: str, answer: Any, *, verbose: bool = True) -> Report:
    """Check a learner's answer to exercise ``id``; prints and returns a :class:`Report`."""
    ex = _get(id)
    if answer is TODO or (callable(answer) and _is_stub(answer)):
        report = Report(
            id,
            False,
            [f"{ex.title}: not attempted yet — fill in the stub, or try hint({id!r})."],
            attempted=False,
        )
    else:
        try:
            passed = ex.checker(answer)
            lines = [passed] if isinstance(passed, str) else list(passed or [])
            report = Report(id, True, [f"{ex.title}: correct."] + lines)
        except Mismatch as err:
            report = Report(id, False, [f"{ex.title}:"] + str(err).splitlines())
        except Exception as err:  # the learner's code raised: say where, briefly
            where = traceback.extract_tb(err.__traceback__)[-1]
            report = Report(
                id,
                False,
                [
                    f"{ex.title}: your code raised {type(err).__name__}: {err}",
                    f"(at line {where.lineno}: {where.line})",
                ],
            )
    if verbose:
        print(report)
    return report


def _is_stub(fn: Callable) -> bool:
    """A stub is a function whose whole body is ``return TODO`` (comments and docstring aside)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    func = tree.body[0] if tree.body else None
    if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, ast.Name)
        and body[0].value.id == "TODO"
    )


def hint(id: str) -> str:
    """Show the next hint for exercise ``id``; after the hints, the reference solution."""
    ex = _get(id)
    n = _HINTS_SHOWN.get(id, 0)
    if n < len(ex.hints):
        text = f"Hint {n + 1}/{len(ex.hints)} for {id}: {ex.hints[n]}"
    else:
        text = f"Solution for {id}:\n{ex.solution}"
    _HINTS_SHOWN[id] = n + 1
    print(text)
    return text


def hints_shown(id: str) -> int:
    """How many times :func:`hint` has been called for ``id``."""
    return _HINTS_SHOWN.get(id, 0)
