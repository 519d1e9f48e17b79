"""Learner copies of the chapters (``make learner``; vswin_edu.course.notebooks --learner).

The stored chapters tag their exercise solutions ``solution`` and the answers to "predict, then
reveal" prompts ``reveal``; the copies replace each solution by its stub and collapse the reveals.
The slow test builds every copy and runs it top to bottom: no error, every exercise "not attempted".
"""

from __future__ import annotations

import ast
import re
import time
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vswin_edu.course import CourseError, load_course
from vswin_edu.course.notebooks import (
    HIDDEN,
    KERNELSPEC,
    REVEAL_TAG,
    SOLUTION_TAG,
    checked_exercises,
    learner_copy,
    main,
    write_learner_copies,
)
from vswin_edu.exercises import registry

COURSE = load_course(require_files=False)
CHAPTERS = COURSE.chapters
# A prompt is a bold or italic "Predict ..." lead (not a learning goal that starts with the word).
PROMPT = re.compile(r"\*{1,2}Predict\b")
STRICT_PROMPT = re.compile(r"\*{1,2}Predict, then reveal", re.IGNORECASE)
NOT_ATTEMPTED = re.compile(r"^⏳ Exercise (\S+)\n   .*not attempted yet.*hint\('\1'\)", re.MULTILINE)


def _stored(chapter) -> nbformat.NotebookNode:
    return nbformat.read(COURSE.path(chapter), as_version=4)


def _tagged(nb: nbformat.NotebookNode, tag: str) -> list[tuple[int, nbformat.NotebookNode]]:
    return [(i, c) for i, c in enumerate(nb.cells) if tag in c.metadata.get("tags", [])]


# --- the tags of the stored chapters ---------------------------------------------------------------


def test_every_exercise_is_solved_in_exactly_one_solution_cell():
    seen: Counter[str] = Counter()
    exercises = registry()
    for chapter in CHAPTERS:
        for index, cell in _tagged(_stored(chapter), SOLUTION_TAG):
            where = f"{chapter.file} cell {index} ({cell.id})"
            assert cell.cell_type == "code", f"{where}: only code cells can be solutions"
            checked = checked_exercises(cell.source)
            assert len(checked) == 1, f"{where}: a solution cell checks one exercise, this one {checked}"
            ((id, name),) = checked
            assert id in exercises, f"{where}: check({id!r}, ...) names no registered exercise"
            functions = {f.name: f for f in ast.parse(cell.source).body if isinstance(f, ast.FunctionDef)}
            assert name in functions, f"{where}: check({id!r}, {name}) must check a function the cell defines"
            stub = ast.parse(exercises[id].stub).body[0]
            assert ast.dump(functions[name].args) == ast.dump(stub.args), (
                f"{where}: {name}'s signature differs from exercise {id}'s solution (the learner's stub)"
            )
            seen[id] += 1
    assert sorted(seen) == sorted(exercises), (
        f"exercises without a solution cell: {set(exercises) - set(seen)}"
    )
    assert [id for id, n in seen.items() if n > 1] == [], "an exercise is solved in more than one cell"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.slug)
def test_every_predict_prompt_is_followed_by_a_reveal_cell(chapter):
    nb = _stored(chapter)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or not PROMPT.search(cell.source):
            continue
        # "Predict, then reveal": the very next cell answers; "Predict first": one of the next three
        window = nb.cells[index + 1 : index + (2 if STRICT_PROMPT.search(cell.source) else 4)]
        assert any(REVEAL_TAG in c.metadata.get("tags", []) for c in window), (
            f"{chapter.file} cell {index} ({cell.id}) asks learners to predict, but no cell after it is "
            f"tagged {REVEAL_TAG!r}"
        )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.slug)
def test_reveal_cells_hide_no_heading_and_no_widget(chapter):
    for index, cell in _tagged(_stored(chapter), REVEAL_TAG):
        where = f"{chapter.file} cell {index} ({cell.id})"
        tags = cell.metadata.get("tags", [])
        assert SOLUTION_TAG not in tags and "widget" not in tags, (
            f"{where}: a reveal is neither solution nor widget"
        )
        if cell.cell_type == "markdown":  # collapsing a heading would hide a section from the outline
            assert not re.search(r"^#", cell.source, re.MULTILINE), f"{where}: a reveal cell holds a heading"


# --- building a copy -------------------------------------------------------------------------------


def _tiny_chapter() -> nbformat.NotebookNode:
    imports = new_code_cell("from vswin_edu.exercises import check, hint", execution_count=1)
    prompt = new_markdown_cell("**Predict, then reveal.** How many frames?")
    reveal_code = new_code_cell("print(63)", execution_count=2, metadata={"tags": [REVEAL_TAG]})
    reveal_code.outputs = [new_output("stream", name="stdout", text="63\n")]
    reveal_text = new_markdown_cell("**63** frames.", metadata={"tags": [REVEAL_TAG]})
    solution = new_code_cell(
        "# NBVAL_CHECK_OUTPUT\nimport math\n\n\ndef mine(start, num_frames, stride):\n"
        '    return [start + i * stride for i in range(num_frames)]\n\n\n_ = check("0.2", mine)',
        execution_count=3,
        metadata={"tags": [SOLUTION_TAG], "slideshow": {"slide_type": "fragment"}},
    )
    solution.outputs = [new_output("stream", name="stdout", text="✅ Exercise 0.2\n")]
    after = new_code_cell("print(1)", execution_count=4)
    after.outputs = [new_output("stream", name="stdout", text="1\n")]
    nb = new_notebook(cells=[imports, prompt, reveal_code, reveal_text, solution, after])
    nb.metadata["kernelspec"] = {"name": "other", "display_name": "Other"}
    return nb


def test_learner_copy_stubs_solutions_and_collapses_reveals():
    stored = _tiny_chapter()
    copy = learner_copy(stored)
    nbformat.validate(copy)
    imports, prompt, reveal_code, reveal_text, solution, after = copy.cells
    assert solution.source == (
        "# NBVAL_CHECK_OUTPUT\nfrom vswin_edu.exercises import TODO\nimport math\n\n\n"
        + registry()["0.2"].stub_named("mine")
        + '\n\n\n_ = check("0.2", mine)'
    )
    assert solution.outputs == [] and solution.execution_count is None
    assert solution.metadata["slideshow"] == {"slide_type": "fragment"} and "jupyter" not in solution.metadata
    for cell in (reveal_code, reveal_text):
        assert cell.metadata["jupyter"] == HIDDEN == {"source_hidden": True, "outputs_hidden": True}
    assert reveal_code.outputs == [] and reveal_code.source == "print(63)"
    assert after.outputs[0]["text"] == "1\n" and prompt.source == stored.cells[1].source  # the rest stays
    assert copy.metadata["kernelspec"] == KERNELSPEC
    assert stored.cells[4].outputs and "return [start" in stored.cells[4].source  # the input is untouched


def test_learner_copy_imports_todo_only_when_the_chapter_does_not():
    nb = _tiny_chapter()
    nb.cells[0].source = "from vswin_edu.exercises import TODO, check, hint"
    assert "import TODO" not in learner_copy(nb).cells[4].source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def mine(x):\n    return x", "must call check('N.M', your_function)"),
        ("_ = check('0.2', lambda s, n, k: [])", "must check a function the cell defines"),
        ("def mine(x):\n    return x\n\n\ncheck('99.9', mine)", "names no registered exercise"),
        ("%time x = 1\ncheck('0.2', x)", "must be plain Python"),
    ],
)
def test_a_mistagged_solution_cell_is_named(source, message):
    nb = _tiny_chapter()
    nb.cells[4].source = source
    with pytest.raises(CourseError, match=re.escape(message)) as err:
        learner_copy(nb, name="05_x.ipynb")
    assert "05_x.ipynb, cell 4" in str(err.value)


def test_learner_command_line_writes_copies(tmp_path, capsys):
    source = tmp_path / "00_tiny.ipynb"
    nbformat.write(_tiny_chapter(), source)
    out = tmp_path / "learner"
    assert main(["--learner", str(out), str(source)]) == 0
    assert f"{out / '00_tiny.ipynb'}: learner copy" in capsys.readouterr().out
    assert "return TODO" in nbformat.read(out / "00_tiny.ipynb", as_version=4).cells[4].source
    assert main(["--learner", str(out), str(tmp_path / "missing.ipynb")]) == 1
    assert main(["--learner", str(tmp_path), str(source)]) == 1  # never over the stored chapter
    assert "would overwrite the chapters themselves" in capsys.readouterr().err
    assert "return TODO" not in nbformat.read(source, as_version=4).cells[4].source


def test_every_chapter_gets_a_valid_copy(tmp_path):
    written = write_learner_copies(COURSE, tmp_path)
    assert [p.name for p in written] == [c.file for c in CHAPTERS]
    for chapter, path in zip(CHAPTERS, written, strict=True):
        copy = nbformat.read(path, as_version=4)
        nbformat.validate(copy)
        assert copy.metadata["kernelspec"] == KERNELSPEC
        for _, cell in _tagged(copy, SOLUTION_TAG):
            assert cell.outputs == [] and "return TODO" in cell.source
        for _, cell in _tagged(copy, REVEAL_TAG):
            assert cell.metadata["jupyter"] == HIDDEN and not cell.get("outputs")
        solutions = [c.source for _, c in _tagged(_stored(chapter), SOLUTION_TAG)]
        assert all("return TODO" not in s for s in solutions), f"{chapter.file}: stored solutions are stubs?"


# --- running the copies ---------------------------------------------------------------------------

_SECONDS: dict[str, float] = {}


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("learner")
    write_learner_copies(COURSE, folder)
    yield folder
    if _SECONDS:  # shown with -s; the README's timing comes from here
        total = sum(_SECONDS.values())
        print(
            f"\nlearner copies executed in {total:.0f} s: "
            + ", ".join(f"{k} {v:.0f}" for k, v in _SECONDS.items())
        )


# Each copy starts from an empty namespace, so a name one chapter defines cannot stand in for a
# missing definition or import in the next; modules stay imported (that is what is shared).
FRESH_NAMESPACE = "%reset -f\nimport matplotlib.pyplot as _plt\n_plt.close('all')\ndel _plt"


@pytest.fixture(scope="module")
def kernel(copies):
    """One kernel for all the copies, run one after another: a fresh one per chapter spends ~8 s
    of every chapter starting Python and importing torch (about two minutes of the run)."""
    km = KernelManager(kernel_name=COURSE.kernel)
    km.start_kernel(cwd=str(copies))
    yield km
    km.shutdown_kernel(now=True)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.slug)
def test_learner_copy_runs_clean_and_every_exercise_is_not_attempted(copies, kernel, chapter):
    path = copies / chapter.file
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, km=kernel, timeout=COURSE.timeout)
    start = time.perf_counter()
    reset = kernel.blocking_client()
    reset.start_channels()
    reply = reset.execute_interactive(FRESH_NAMESPACE, timeout=60, output_hook=lambda msg: None)
    reset.stop_channels()
    assert reply["content"]["status"] == "ok", reply["content"]
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    _SECONDS[chapter.slug[:2]] = time.perf_counter() - start
    stored = _tagged(_stored(chapter), SOLUTION_TAG)
    expected = [id for _, cell in stored for id, _ in checked_exercises(cell.source)]
    reported = []
    for index, cell in _tagged(nb, SOLUTION_TAG):
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert not any(o.output_type == "error" for o in cell.outputs), f"{chapter.file} cell {index}"
        found = NOT_ATTEMPTED.findall(text)
        assert found, (
            f"{chapter.file} cell {index} should say 'not attempted yet ... hint(...)', printed:\n{text}"
        )
        reported += found
    assert sorted(reported) == sorted(expected)
