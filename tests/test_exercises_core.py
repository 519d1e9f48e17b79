"""The exercise machinery, and what every registered exercise must do: its printed reference
solution passes, a stub is "not attempted", and two hints come before the solution.

The known-wrong answers of each exercise, and the diagnosis each must get, are in
test_exercises_ch00_03.py, test_exercises_ch04_07.py and test_exercises_ch08_12.py.
"""

from __future__ import annotations

import ast
import math
import pkgutil
import signal
import threading
import time

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


# --- stubs derived from the solutions, and the time limit of check() (issue 15) -------------------


@pytest.mark.parametrize("id", IDS)
def test_stub_has_the_solution_signature_and_is_not_attempted(id):
    ex = registry()[id]
    stub, reference = ast.parse(ex.stub).body[0], ast.parse(ex.solution).body[-1]
    assert isinstance(stub, ast.FunctionDef) and stub.name == reference.name == ex.function_name
    assert ast.dump(stub.args) == ast.dump(reference.args)
    assert ast.get_docstring(stub) and f"hint({id!r})" in ex.stub
    namespace = {"TODO": TODO}
    exec(ex.stub, namespace)  # no source for inspect: check() sees the TODO it returns
    report = check(id, namespace[ex.function_name], verbose=False)
    assert report.status == "not attempted" and "not attempted yet" in str(report), str(report)
    assert ex.stub_named("mine").startswith("def mine(")


def endless(*args):
    while True:
        pass


def exits(*args):
    import sys

    sys.exit(3)


def swallows_everything(*args):
    try:
        while True:
            pass
    except Exception:  # a learner's broad except must not hide the time limit
        return None


def test_an_endless_loop_times_out_and_the_caller_survives():
    start = time.monotonic()
    report = check("0.1", endless, verbose=False, time_limit=0.5)
    assert time.monotonic() - start < 5
    assert not report.ok and report.attempted and report.status == "timed out"
    assert "timed out after 0.5 s" in str(report)
    assert check("0.1", swallows_everything, verbose=False, time_limit=0.3).status == "timed out"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # nothing left armed
    assert check("0.1", endless, verbose=False, time_limit=0.2).status == "timed out"  # and again


def test_sys_exit_in_an_answer_is_reported_not_raised():
    report = check("0.1", exits, verbose=False)
    assert not report.ok and report.status == "exited"
    assert "your function exited" in str(report) and "SystemExit(3)" in str(report)
    assert check("0.1", lambda frames: exit(), verbose=False).status == "exited"  # site's exit() too


def test_the_time_limit_is_per_check_and_checkers_still_pass(solution):
    # 3.2's checker calls the answer for every token of three grids; the limit covers the whole check
    assert check("3.2", solution("3.2"), verbose=False, time_limit=30).ok


def test_the_default_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(_core.TIME_LIMIT_ENV, "0.3")
    assert "timed out after 0.3 s" in str(check("0.1", endless, verbose=False))
    monkeypatch.setenv(_core.TIME_LIMIT_ENV, "soon")
    with pytest.raises(ValueError, match="VSWIN_EDU_TIME_LIMIT must be a number of seconds > 0, got 'soon'"):
        check("0.1", endless, verbose=False)
    monkeypatch.delenv(_core.TIME_LIMIT_ENV)
    assert _core._resolve_time_limit(None) == _core.DEFAULT_TIME_LIMIT == 10.0


@pytest.mark.parametrize("bad", [0, -1, "10", True, float("nan")])
def test_a_bad_time_limit_names_the_argument(bad):
    with pytest.raises(ValueError, match=r"time_limit must be a number of seconds > 0 \(math.inf for none\)"):
        check("0.1", endless, verbose=False, time_limit=bad)


def test_an_infinite_limit_and_an_outer_timer_are_respected(solution):
    assert check("0.1", solution("0.1"), verbose=False, time_limit=math.inf).ok
    previous = signal.signal(signal.SIGALRM, lambda *a: None)
    try:
        signal.setitimer(signal.ITIMER_REAL, 100.0)  # e.g. a test runner's own timeout
        assert check("0.1", solution("0.1"), verbose=False).ok
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90 < remaining <= 100  # re-armed, less the time check() took
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_off_the_main_thread_the_answer_runs_without_a_limit(solution):
    results = []
    thread = threading.Thread(target=lambda: results.append(check("0.1", solution("0.1"), verbose=False)))
    thread.start()
    thread.join(30)
    assert results and results[0].ok


def test_report_status_follows_ok_and_attempted():
    assert _core.Report("0.1", True).status == "passed"
    assert _core.Report("0.1", False).status == "failed"
    assert _core.Report("0.1", False, attempted=False).status == "not attempted"
    assert "your code raised" in str(report := check("0.1", lambda f: f.permute(0), verbose=False))
    assert report.status == "error"
