"""The exercise machinery, and what every registered exercise must do: its printed reference
solution passes, a stub is "not attempted", and two hints come before the solution.

The known-wrong answers of each exercise, and the diagnosis each must get, are in
test_exercises_ch00_03.py, test_exercises_ch04_07.py and test_exercises_ch08_12.py.
"""

from __future__ import annotations

import ast
import pkgutil

import pytest

import vswin_edu.exercises as exercises
from vswin_edu.exercises import TODO, _core, check, hint, hints_shown, registry
from vswin_edu.exercises._core import _is_stub

IDS = sorted(registry(), key=lambda id: tuple(int(n) for n in id.split(".")))


def stub_with_long_docstring(x):
    """A learner's stub.

    Its docstring spans several lines, with a blank one.
    """
    # TODO: write me
    return TODO


def plain_stub(*args):
    return TODO


def not_a_stub(x):
    return x


def test_stubs_are_recognised_whatever_their_docstring():
    assert _is_stub(stub_with_long_docstring) and _is_stub(plain_stub)
    assert not _is_stub(not_a_stub)
    assert not _is_stub(len)  # builtins have no source


def test_every_chapter_registers_exercises():
    chapters = sorted(
        int(m.name[2:4]) for m in pkgutil.iter_modules(exercises.__path__) if m.name.startswith("ch")
    )
    per_chapter = {c: [id for id in IDS if id.split(".")[0] == str(c)] for c in chapters}
    assert len(chapters) >= 8 and all(len(ids) >= 2 for ids in per_chapter.values()), per_chapter
    assert sum(per_chapter.values(), []) == IDS  # and no exercise outside a chapter module


def test_learner_exception_is_reported_not_raised():
    def broken(frames):
        return frames.permute(0, 1)  # wrong number of dims: raises

    report = check("0.1", broken, verbose=False)
    assert not report.ok and report.attempted
    assert "your code raised RuntimeError" in str(report) and "(at line" in str(report)


@pytest.mark.parametrize("id", IDS)
def test_reference_solution_passes(id, solution):
    """The solution text shown by hint() is itself a correct answer (with the names a notebook imports)."""
    report = check(id, solution(id), verbose=False)
    assert report.ok, str(report)
    assert str(report).startswith(f"✅ Exercise {id}")


@pytest.mark.parametrize("id", IDS)
def test_stub_is_not_attempted(id, capsys):
    for stub in (TODO, plain_stub, stub_with_long_docstring):
        report = check(id, stub, verbose=False)
        assert not report.ok and not report.attempted, stub
        assert str(report).startswith(f"⏳ Exercise {id}")
        assert "not attempted yet" in str(report) and f"hint({id!r})" in str(report)
    capsys.readouterr()
    printed = check(id, plain_stub)  # verbose by default: the notebook shows the report
    assert capsys.readouterr().out == f"{printed}\n"


@pytest.mark.parametrize("id", IDS)
def test_two_hints_then_solution(id, monkeypatch):
    monkeypatch.setattr(_core, "_HINTS_SHOWN", {})  # start from the first hint, whatever ran before
    ex = registry()[id]
    assert len(ex.hints) == 2
    shown = [hint(id) for _ in range(3)]
    assert shown[0] == f"Hint 1/2 for {id}: {ex.hints[0]}" and shown[1] == f"Hint 2/2 for {id}: {ex.hints[1]}"
    assert ex.solution in shown[2] and hints_shown(id) == 3
    # the solution is what a learner can paste into a cell: imports, then one function
    body = ast.parse(ex.solution).body
    assert all(isinstance(s, ast.Import | ast.ImportFrom) for s in body[:-1])
    assert isinstance(body[-1], ast.FunctionDef)
