"""Classroom grading (``python -m vswin_edu.grade``): learners' notebooks, each in its own kernel.

Chapter 0 is graded three ways — solved (the stored chapter), a learner copy, and a copy whose
answers loop forever and call ``sys.exit()``; small made-up notebooks cover a loop outside
``check()``, a kernel killed by ``os._exit`` and a file that is no notebook.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from vswin_edu.course import load_course
from vswin_edu.course.notebooks import SOLUTION_TAG, learner_copy
from vswin_edu.grade import STATUSES, grade_notebook, main, parse_reports

COURSE = load_course(require_files=False)
CHAPTER_0 = COURSE.path(COURSE.chapters[0])  # notebooks/00_video_tensors.ipynb, exercises 0.1 and 0.2


def _statuses(result) -> dict[str, str]:
    return {r.exercise: r.status for r in result.exercises}


def _broken_copy(folder):
    """A learner copy of chapter 0 whose 0.1 loops forever and whose 0.2 calls sys.exit()."""
    nb = learner_copy(nbformat.read(CHAPTER_0, as_version=4))
    bodies = {'"0.1"': "while True:\n        pass", '"0.2"': "import sys\n\n    sys.exit()"}
    for cell in nb.cells:
        for id, body in bodies.items():
            if SOLUTION_TAG in cell.metadata.get("tags", []) and f"check({id}" in cell.source:
                head, _, rest = cell.source.partition("    return TODO")
                cell.source = head + "    " + body + rest.partition("\n")[1] + rest.partition("\n")[2]
    path = folder / "broken" / CHAPTER_0.name
    path.parent.mkdir()
    nbformat.write(nb, path)
    return path


def _tiny(folder, name: str, *sources: str):
    """A made-up chapter-0 notebook whose code cells are ``sources`` (those calling check are solutions)."""
    cells = [
        new_code_cell(s, metadata={"tags": [SOLUTION_TAG]} if "check(" in s else {})
        for s in ("from vswin_edu.exercises import TODO, check", *sources)
    ]
    path = folder / name
    nbformat.write(new_notebook(cells=cells), path)
    return path


SOLVED_0_2 = (
    "def sample_indices(start, num_frames, stride):\n"
    "    return [start + i * stride for i in range(num_frames)]\n\n\n"
    '_ = check("0.2", sample_indices)'
)


def test_parse_reports_reads_marks_and_the_phrases_of_check():
    text = (
        "some output of the learner\n"
        "✅ Exercise 1.1\n   patch partition: correct.\n   all 96 numbers in order.\n"
        "❌ Exercise 1.2\n   token grid: timed out after 10 s — stopped.\n"
        "❌ Exercise 2.1\n   MACs: your function exited (SystemExit(None)) instead of returning a value.\n"
        "❌ Exercise 2.2\n   budget: your code raised ZeroDivisionError: division by zero\n"
        "❌ Exercise 3.1\n   windows:\n   Expected shape (8, 12, 1), got (1, 8, 12, 1).\n"
        "⏳ Exercise 3.2\n   where: not attempted yet — fill in the stub, or try hint('3.2').\n"
        "   not a diagnosis: after a blank line\n"
    )
    reports = parse_reports(text.replace("try hint('3.2').\n", "try hint('3.2').\n\n"))
    assert {id: r.status for id, r in reports.items()} == {
        "1.1": "passed",
        "1.2": "timed out",
        "2.1": "exited",
        "2.2": "error",
        "3.1": "failed",
        "3.2": "not attempted",
    }
    assert reports["1.1"].diagnosis == ["patch partition: correct.", "all 96 numbers in order."]
    assert reports["3.2"].diagnosis == ["where: not attempted yet — fill in the stub, or try hint('3.2')."]
    assert set(STATUSES) == {r.status for r in reports.values()}


@pytest.mark.slow
def test_grading_a_solved_a_learner_and_a_broken_copy(tmp_path, capsys):
    solved = tmp_path / "solved" / CHAPTER_0.name
    solved.parent.mkdir()
    shutil.copy(CHAPTER_0, solved)
    learner = tmp_path / "learner" / CHAPTER_0.name
    learner.parent.mkdir()
    nbformat.write(learner_copy(nbformat.read(CHAPTER_0, as_version=4)), learner)
    broken = _broken_copy(tmp_path)
    table = tmp_path / "grades.csv"
    start = time.perf_counter()
    assert main([str(solved), str(learner), str(broken), "--csv", str(table), "--timeout", "2"]) == 0
    assert time.perf_counter() - start < 240  # the endless loop did not hang the grader
    out = capsys.readouterr().out
    assert "3 notebook(s): 2 passed, 2 not attempted, 1 timed out, 1 exited" in out
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    by = {(row["notebook"].split("/")[-2], row["exercise"]): row for row in rows}
    assert {key: row["status"] for key, row in by.items()} == {
        ("solved", "0.1"): "passed",
        ("solved", "0.2"): "passed",
        ("learner", "0.1"): "not attempted",
        ("learner", "0.2"): "not attempted",
        ("broken", "0.1"): "timed out",
        ("broken", "0.2"): "exited",
    }
    assert "correct" in by["solved", "0.1"]["diagnosis"]
    assert (
        "not attempted yet" in by["learner", "0.2"]["diagnosis"]
        and "hint('0.2')" in by["learner", "0.2"]["diagnosis"]
    )
    assert "timed out after 2 s" in by["broken", "0.1"]["diagnosis"]
    assert "your function exited" in by["broken", "0.2"]["diagnosis"]


@pytest.mark.slow
def test_a_loop_outside_check_hits_the_cell_limit_and_the_kernel_carries_on(tmp_path):
    path = _tiny(tmp_path, "00_loop.ipynb", "while True:\n    pass\n\n_ = check('0.1', TODO)", SOLVED_0_2)
    start = time.perf_counter()
    result = grade_notebook(path, cell_timeout=15)  # the first cell imports torch: seconds on a busy machine
    assert time.perf_counter() - start < 90
    assert _statuses(result) == {"0.1": "timed out", "0.2": "passed"}
    assert "ran past the 15 s limit" in result.exercises[0].diagnosis[0]


@pytest.mark.slow
def test_a_dead_kernel_and_a_broken_file_do_not_stop_the_grader(tmp_path, capsys):
    dies = _tiny(tmp_path, "00_dies.ipynb", "import os\n\nos._exit(1)\ncheck('0.1', TODO)", SOLVED_0_2)
    exits = _tiny(tmp_path, "00_exits.ipynb", "import sys\n\nsys.exit('bye')\ncheck('0.1', TODO)", SOLVED_0_2)
    garbage = tmp_path / "00_garbage.ipynb"
    garbage.write_text("{ not json", encoding="utf-8")
    missing = _tiny(tmp_path, "00_missing.ipynb", SOLVED_0_2)  # no cell checks 0.1
    table = tmp_path / "grades.csv"
    assert main([str(p) for p in (dies, exits, garbage, missing)] + ["--csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert "[the kernel died in cell 1]" in out and "[cannot read the notebook:" in out
    rows = {
        (Path(r["notebook"]).stem, r["exercise"]): r for r in csv.DictReader(table.open(encoding="utf-8"))
    }
    assert {key: row["status"] for key, row in rows.items()} == {
        ("00_dies", "0.1"): "error",
        ("00_dies", "0.2"): "error",
        ("00_exits", "0.1"): "exited",
        ("00_exits", "0.2"): "passed",  # the kernel survived the sys.exit()
        ("00_garbage", "0.1"): "error",
        ("00_garbage", "0.2"): "error",
        ("00_missing", "0.1"): "not attempted",
        ("00_missing", "0.2"): "passed",
    }
    assert "the kernel died in this cell" in rows["00_dies", "0.1"]["diagnosis"]
    assert "the kernel died in cell 1, before this one" in rows["00_dies", "0.2"]["diagnosis"]
    assert "SystemExit: bye" in rows["00_exits", "0.1"]["diagnosis"]
    assert "no cell calls check('0.1', ...)" in rows["00_missing", "0.1"]["diagnosis"]


@pytest.mark.parametrize("bad", [0, -1, True])
def test_bad_limits_are_refused(tmp_path, bad):
    path = _tiny(tmp_path, "00_x.ipynb", SOLVED_0_2)
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
        grade_notebook(path, timeout=bad)
    with pytest.raises(SystemExit):
        main([str(path), "--cell-timeout", "0"])
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope.ipynb")])
