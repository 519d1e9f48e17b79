"""The machinery behind every exercise: registry, sentinel, stubs, reports, time limit and tiered hints.

``check`` runs the learner's answer under a time limit (``time_limit=``, default
:data:`DEFAULT_TIME_LIMIT` seconds, or the environment variable ``VSWIN_EDU_TIME_LIMIT`` that
``python -m vswin_edu.grade`` sets): an endless loop is reported as "timed out after N s" and an
answer that calls ``sys.exit()`` as "your function exited", so the notebook's kernel survives both.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import os
import signal
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIME_LIMIT = 10.0  # seconds per check(); every reference solution is checked in under 1 s
TIME_LIMIT_ENV = "VSWIN_EDU_TIME_LIMIT"  # overrides the default, e.g. for a whole class (vswin_edu.grade)
# What a report says about each way an answer can fail to return; vswin_edu.grade reads these.
TIMED_OUT = "timed out after"
EXITED = "your function exited"
RAISED = "your code raised"
NOT_ATTEMPTED = "not attempted yet"


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
    """Result of :func:`check`; prints as a short diagnosis, ``ok`` is True on success.

    ``status`` says how it ended: ``"passed"``, ``"failed"``, ``"not attempted"``, ``"timed out"``,
    ``"exited"`` (the answer called ``sys.exit()``) or ``"error"`` (the answer raised).
    """

    exercise: str
    ok: bool
    lines: list[str] = field(default_factory=list)
    attempted: bool = True
    status: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "passed" if self.ok else ("failed" if self.attempted else "not attempted")

    def __str__(self) -> str:
        mark = "✅" if self.ok else ("⏳" if not self.attempted else "❌")
        return "\n".join([f"{mark} Exercise {self.exercise}"] + [f"   {line}" for line in self.lines])

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class Exercise:
    """An exercise: its checker, tiered hints and the reference solution (shown last).

    ``stub`` is derived from the solution: the same function signature, a docstring, and a body
    that returns :data:`TODO` — what a learner's copy of the chapter starts from.
    """

    id: str
    title: str
    checker: Callable[[Any], str | list[str] | None]
    hints: list[str]
    solution: str

    @property
    def function_name(self) -> str:
        """The name of the function the reference solution defines."""
        return _solution_function(self).name

    @property
    def stub(self) -> str:
        """Source of the stub: ``def <name>(<signature of the solution>):``, docstring, ``return TODO``."""
        return self.stub_named(self.function_name)

    def stub_named(self, name: str) -> str:
        """The stub, with the function called ``name`` (a notebook may name it its own way)."""
        func = _solution_function(self)
        doc = ast.get_docstring(func) or f"Exercise {self.id}: {self.title}."
        doc = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        return "\n".join(
            [
                f"def {name}({ast.unparse(func.args)}):",
                *textwrap.indent(f'"""{doc}"""', "    ").splitlines(),
                f"    return TODO  # your code here; then run the cell (hint({self.id!r}) if you are stuck)",
            ]
        )


def _solution_function(ex: Exercise) -> ast.FunctionDef:
    """The (last) top-level function the reference solution of ``ex`` defines."""
    functions = [node for node in ast.parse(ex.solution).body if isinstance(node, ast.FunctionDef)]
    if not functions:
        raise ValueError(f"exercise {ex.id!r}: its solution defines no function, so it has no stub")
    return functions[-1]


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


def check(id: str, answer: Any, *, verbose: bool = True, time_limit: float | None = None) -> Report:
    """Check a learner's answer to exercise ``id``; prints and returns a :class:`Report`.

    The checker (which may call ``answer`` many times) runs under one time limit of ``time_limit``
    seconds (default: ``$VSWIN_EDU_TIME_LIMIT`` or :data:`DEFAULT_TIME_LIMIT`; ``math.inf`` for
    none).  An answer that runs past it is reported as timed out, one that calls ``sys.exit()`` as
    exited, one that raises with the line that raised — never as a traceback.  The limit needs
    ``signal.setitimer`` and the main thread (as in a notebook); elsewhere the answer runs unlimited.
    """
    ex = _get(id)
    limit = _resolve_time_limit(time_limit)
    not_attempted = Report(
        id, False, [f"{ex.title}: {NOT_ATTEMPTED} — fill in the stub, or try hint({id!r})."], attempted=False
    )
    if answer is TODO or (callable(answer) and _is_stub(answer)):
        report = not_attempted
    else:
        returned_todo: list[bool] = []
        if callable(answer):
            answer = _watch_for_todo(answer, returned_todo)
        try:
            with _deadline(limit):
                passed = ex.checker(answer)
            lines = [passed] if isinstance(passed, str) else list(passed or [])
            report = Report(id, True, [f"{ex.title}: correct."] + lines)
        except Mismatch as err:
            report = Report(id, False, [f"{ex.title}:"] + str(err).splitlines())
        except _TimedOut:
            report = Report(
                id,
                False,
                [
                    f"{ex.title}: {TIMED_OUT} {limit:g} s — stopped.",
                    "Does a loop never end (a while whose condition stays true)? Every reference "
                    "solution is checked in well under a second.",
                ],
                status="timed out",
            )
        except SystemExit as err:  # sys.exit() / exit() in the answer: report it, keep the kernel
            report = Report(
                id,
                False,
                [
                    f"{ex.title}: {EXITED} (SystemExit({err.code!r})) instead of returning a value.",
                    "Remove the sys.exit() / exit() / quit() call: the checker calls your function "
                    "and needs what it returns.",
                ],
                status="exited",
            )
        except Exception as err:  # the learner's code raised: say where, briefly
            where = traceback.extract_tb(err.__traceback__)[-1]
            report = Report(
                id,
                False,
                [
                    f"{ex.title}: {RAISED} {type(err).__name__}: {err}",
                    f"(at line {where.lineno}: {where.line})",
                ],
                status="error",
            )
        if returned_todo and report.status in ("failed", "error"):
            report = not_attempted  # a stub whose source Python cannot read (exec'd, a lambda)
    if verbose:
        print(report)
    return report


def _watch_for_todo(answer: Callable, returned_todo: list[bool]) -> Callable:
    """``answer`` with the same signature, noting in ``returned_todo`` each call that returned TODO."""

    @functools.wraps(answer)
    def watched(*args: Any, **kwargs: Any) -> Any:
        out = answer(*args, **kwargs)
        if out is TODO:
            returned_todo.append(True)
        return out

    return watched


class _TimedOut(BaseException):
    """Raised in the main thread when the answer runs past its time limit.

    A ``BaseException``, so that ``except Exception`` in the learner's code or a checker cannot
    swallow it.
    """


def _resolve_time_limit(time_limit: float | None) -> float:
    if time_limit is None:
        raw = os.environ.get(TIME_LIMIT_ENV)
        try:
            time_limit = float(raw) if raw else DEFAULT_TIME_LIMIT
        except ValueError:
            raise ValueError(f"{TIME_LIMIT_ENV} must be a number of seconds > 0, got {raw!r}") from None
        name = TIME_LIMIT_ENV
    else:
        name = "time_limit"
    if isinstance(time_limit, bool) or not isinstance(time_limit, int | float) or not time_limit > 0:
        raise ValueError(f"{name} must be a number of seconds > 0 (math.inf for none), got {time_limit!r}")
    return float(time_limit)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`_TimedOut` in the body once ``seconds`` have passed (SIGALRM, main thread only).

    Restores the previous SIGALRM handler and re-arms a timer that was already running (e.g. a
    test runner's), less the time spent here.
    """
    usable = (
        math.isfinite(seconds)
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    armed = [True]

    def on_alarm(signum: int, frame: Any) -> None:
        if armed[0]:
            raise _TimedOut(seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    start = time.monotonic()
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        armed[0] = False  # first: an alarm arriving from here on is ignored
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_delay > 0:
            signal.setitimer(
                signal.ITIMER_REAL, max(old_delay - (time.monotonic() - start), 1e-3), old_interval
            )


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
