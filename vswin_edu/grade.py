"""Classroom grading: run learners' notebooks and report every exercise's status and diagnosis.

Each notebook runs top to bottom in its own fresh kernel (nbclient; the working directory is the
notebook's folder, as in JupyterLab).  Every ``check("N.M", ...)`` runs under a time limit of
``--timeout`` seconds (it is passed to the kernel as ``VSWIN_EDU_TIME_LIMIT``), and every cell
under ``--cell-timeout`` seconds, after which the kernel is interrupted and the next cell runs.
A learner's endless loop is therefore reported as "timed out", a ``sys.exit()`` as "exited", and a
kernel that dies (``os._exit``, a crash) marks the exercises it did not reach as "error" — the
grader itself always finishes.

The exercises of a notebook are read off its cells tagged ``solution`` (learner copies keep the
tags; :mod:`vswin_edu.course.notebooks`), or, in an untagged notebook, off every cell that calls
``check("N.M", ...)``; an exercise of the stored chapter (book.toml's chapter of the same file
name, or number) that no cell checks is "not attempted".  Statuses: passed, failed, not attempted,
timed out, exited, error.

Command line::

    python -m vswin_edu.grade alice/05_attention_masks.ipynb bob/05_attention_masks.ipynb \\
        [--csv grades.csv] [--timeout 10] [--cell-timeout 300]

prints one table per notebook and a summary; ``--csv`` also writes one row per notebook and
exercise (notebook, exercise, status, diagnosis).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from .course import CourseError, load_course
from .course.notebooks import SOLUTION_TAG, checked_exercises
from .exercises._core import DEFAULT_TIME_LIMIT, EXITED, NOT_ATTEMPTED, RAISED, TIME_LIMIT_ENV, TIMED_OUT

__all__ = ["STATUSES", "ExerciseResult", "NotebookResult", "grade_notebook", "main", "parse_reports"]

STATUSES = ("passed", "failed", "not attempted", "timed out", "exited", "error")
DEFAULT_CELL_TIMEOUT = 300  # seconds; book.toml gives the chapters the same per-cell limit
_CELL_TIMED_OUT = "CellTimedOut"  # ename of the reply nbclient hands back for an interrupted cell
_REPORT = re.compile(r"^(✅|❌|⏳) Exercise (\S+)$")
_CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d+\.\d+)["']""")  # for cells that no longer parse


@dataclass
class ExerciseResult:
    """One exercise of one notebook: ``status`` (one of :data:`STATUSES`) and the diagnosis lines."""

    exercise: str
    status: str
    diagnosis: list[str] = field(default_factory=list)


@dataclass
class NotebookResult:
    """Every exercise of one graded notebook, in exercise order, and the seconds the run took."""

    path: Path
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    problem: str = ""  # why the notebook could not be run to the end, if it could not


def _status(mark: str, lines: list[str]) -> str:
    """A printed report's status: from its mark, and for ❌ from the phrase check() uses."""
    if mark == "✅":
        return "passed"
    if mark == "⏳":
        return "not attempted"
    first = lines[0] if lines else ""
    for phrase, status in ((TIMED_OUT, "timed out"), (EXITED, "exited"), (RAISED, "error")):
        if phrase in first:
            return status
    return "failed"


def parse_reports(text: str) -> dict[str, ExerciseResult]:
    """The reports ``check()`` printed in ``text``: ``{exercise id: result}`` (the last one wins).

    A report is a line ``✅ / ❌ / ⏳ Exercise N.M`` followed by its diagnosis, indented by 3 spaces.
    """
    found: dict[str, tuple[str, list[str]]] = {}
    diagnosis: list[str] | None = None
    for line in text.splitlines():
        if match := _REPORT.match(line):
            diagnosis = []
            found[match.group(2)] = (match.group(1), diagnosis)
        elif diagnosis is not None and line.startswith("   "):
            diagnosis.append(line[3:])
        else:
            diagnosis = None
    return {id: ExerciseResult(id, _status(mark, lines), lines) for id, (mark, lines) in found.items()}


def _cell_text(cell: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream"
    )


def _cell_error(cell: nbformat.NotebookNode) -> tuple[str, str] | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", ""), out.get("evalue", "")
    return None


def _checked_ids(source: str) -> list[str]:
    try:
        return [id for id, _ in checked_exercises(source)]
    except SyntaxError:
        return _CHECK_CALL.findall(source)


def _exercise_cells(nb: nbformat.NotebookNode) -> list[tuple[int, list[str]]]:
    """``(cell index, exercise ids it checks)`` of the solution cells (of any checking cell if none is
    tagged)."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    tagged = [(i, c) for i, c in code if SOLUTION_TAG in c.metadata.get("tags", [])]
    return [(i, ids) for i, c in (tagged or code) if (ids := _checked_ids(c.source))]


def _chapter_exercises(path: Path) -> list[str]:
    """The exercises the stored chapter of ``path`` solves (in its ``solution`` cells).

    The chapter is the one of book.toml with the same file name, else the one with the same number
    (the ``NN_`` prefix); a notebook that matches neither is graded on what its own cells check.
    """
    try:
        course = load_course(require_files=False)
    except CourseError:  # no book.toml next to the package: grade what the notebook checks
        return []
    chapter = next((c for c in course.chapters if c.file == path.name), None)
    if chapter is None and path.name[:2].isdigit():
        chapter = next((c for c in course.chapters if c.number == int(path.name[:2])), None)
    if chapter is None or not course.path(chapter).is_file():
        return []
    stored = nbformat.read(course.path(chapter), as_version=4)
    return [id for _, ids in _exercise_cells(stored) for id in ids]


def _order(id: str) -> tuple[int, ...]:
    return tuple(int(n) if n.isdigit() else 0 for n in id.split("."))


def _diagnose(
    index: int, ids: list[str], cell: nbformat.NotebookNode, reply: dict[str, Any] | None, died_at: int | None
) -> dict[str, ExerciseResult]:
    """Results for the exercises checked in cell ``index``, from its printed reports or what stopped it."""
    reports = parse_reports(_cell_text(cell))
    results = {}
    for id in ids:
        if id in reports:
            results[id] = reports[id]
            continue
        error = _cell_error(cell)
        ename = (reply or {}).get("content", {}).get("ename", "")
        if died_at is not None and index >= died_at:
            where = "in this cell" if index == died_at else f"in cell {died_at}, before this one"
            result = ExerciseResult(
                id, "error", [f"the kernel died {where} (os._exit(), a crash or out of memory)"]
            )
        elif reply is None:
            result = ExerciseResult(id, "error", ["the cell was not run"])
        elif ename == _CELL_TIMED_OUT:
            result = ExerciseResult(id, "timed out", [reply["content"].get("evalue", "")])
        elif error is not None and error[0] == "SystemExit":
            result = ExerciseResult(id, "exited", [f"the cell called sys.exit() (SystemExit: {error[1]})"])
        elif error is not None:
            result = ExerciseResult(id, "error", [f"the cell raised {error[0]}: {error[1]}"])
        else:
            result = ExerciseResult(id, "error", [f"the cell ran but check({id!r}, ...) printed no report"])
        results[id] = result
    return results


def grade_notebook(
    path: str | Path,
    *,
    timeout: float = DEFAULT_TIME_LIMIT,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    kernel: str = "python3",
) -> NotebookResult:
    """Run one learner's notebook in a fresh kernel and grade every exercise it checks.

    ``timeout`` is each ``check()``'s time limit (seconds), ``cell_timeout`` each cell's.  Never
    raises for what the notebook does: a cell that fails, loops, exits or kills its kernel ends up
    in the results.
    """
    path = Path(path)
    for name, value in (("timeout", timeout), ("cell_timeout", cell_timeout)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
    expected = _chapter_exercises(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # not a notebook at all: grade it as such, carry on with the others
        results = [ExerciseResult(id, "error", [f"cannot read the notebook: {err}"]) for id in expected]
        return NotebookResult(path, results, problem=f"cannot read the notebook: {err}")
    replies: dict[int, dict[str, Any]] = {}  # cell index -> the kernel's execute_reply

    def keep_reply(cell: nbformat.NotebookNode, cell_index: int, execute_reply: dict[str, Any]) -> None:
        replies[cell_index] = execute_reply

    client = NotebookClient(
        nb,
        timeout=int(cell_timeout),
        kernel_name=kernel,
        allow_errors=True,  # a learner's failing cell must not stop the rest
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": _CELL_TIMED_OUT,
            "evalue": f"the cell ran past the {cell_timeout:g} s limit and was interrupted",
            "traceback": [],
        },
        resources={"metadata": {"path": str(path.parent.resolve())}},
        record_timing=False,
        on_cell_executed=keep_reply,
    )
    died_at, problem = None, ""
    start = time.perf_counter()
    env = {**os.environ, TIME_LIMIT_ENV: f"{timeout:g}"}
    try:
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    died_at, problem = index, f"the kernel died in cell {index}"
                    break
    except Exception as err:  # the kernel did not start, or died in a way nbclient reports otherwise
        problem = problem or f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    graded: dict[str, ExerciseResult] = {}
    for index, ids in _exercise_cells(nb):
        for id, result in _diagnose(index, ids, nb.cells[index], replies.get(index), died_at).items():
            graded.setdefault(id, result)  # the first cell that checks an exercise grades it
    for id in expected:
        if id not in graded:
            graded[id] = ExerciseResult(
                id, "not attempted", [f"no cell calls check({id!r}, ...) ({NOT_ATTEMPTED})"]
            )
    return NotebookResult(path, sorted(graded.values(), key=lambda r: _order(r.exercise)), seconds, problem)


def format_result(result: NotebookResult) -> str:
    """One notebook's results as a small table: exercise, status, the diagnosis's first line."""
    lines = [f"{result.path}  ({result.seconds:.1f} s)" + (f"  [{result.problem}]" if result.problem else "")]
    for r in result.exercises:
        lines.append(f"  {r.exercise:6s} {r.status:14s} {r.diagnosis[0] if r.diagnosis else ''}")
    counts = {s: sum(r.status == s for r in result.exercises) for s in STATUSES}
    lines.append(
        "  " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) if result.exercises else "  no exercises"
    )
    return "\n".join(lines)


def write_csv(results: list[NotebookResult], path: str | Path) -> None:
    """One row per notebook and exercise: notebook, exercise, status, diagnosis (lines joined by " | ")."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["notebook", "exercise", "status", "diagnosis"])
        for result in results:
            for r in result.exercises:
                writer.writerow([str(result.path), r.exercise, r.status, " | ".join(r.diagnosis)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vswin_edu.grade", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="learners' notebooks (.ipynb)")
    parser.add_argument("--csv", type=Path, help="also write one row per notebook and exercise to this file")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIME_LIMIT,
        help=f"time limit of each check(), seconds (default {DEFAULT_TIME_LIMIT:g})",
    )
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=DEFAULT_CELL_TIMEOUT,
        help=f"time limit of each cell, seconds (default {DEFAULT_CELL_TIMEOUT})",
    )
    parser.add_argument(
        "--kernel", default="python3", help="kernel to run the notebooks in (default python3)"
    )
    args = parser.parse_args(argv)
    if missing := [str(p) for p in args.notebooks if not p.is_file()]:
        parser.error(f"no such notebook(s): {', '.join(missing)}")
    for name in ("timeout", "cell_timeout"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    results = []
    for path in args.notebooks:
        result = grade_notebook(
            path, timeout=args.timeout, cell_timeout=args.cell_timeout, kernel=args.kernel
        )
        print(format_result(result), flush=True)
        results.append(result)
    total = {s: sum(r.status == s for res in results for r in res.exercises) for s in STATUSES}
    print(f"{len(results)} notebook(s): " + ", ".join(f"{n} {s}" for s, n in total.items() if n))
    if args.csv:
        write_csv(results, args.csv)
        print(f"written: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
