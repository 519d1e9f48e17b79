"""Stored chapters look like one clean top-to-bottom run (vswin_edu.course.notebooks).

Whether a *checked* output is still what the code prints is nbval's job (`make test-notebooks`);
here: kernelspec, execution counts 1, 2, 3, ..., no errors, no volatile metadata, saved widget
state for every displayed widget.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vswin_edu.course import load_course
from vswin_edu.course.notebooks import KERNELSPEC, WIDGET_STATE, WIDGET_VIEW, clean, execute, main, problems

COURSE = load_course(require_files=False)


@pytest.mark.parametrize("chapter", COURSE.chapters, ids=lambda c: c.slug)
def test_stored_chapter_is_one_clean_run(chapter):
    path = COURSE.path(chapter)
    assert path.is_file(), f"{chapter.file} is listed in book.toml but missing from notebooks/"
    found = problems(nbformat.read(path, as_version=4), COURSE.kernel)
    assert not found, f"{chapter.file}: run `make notebooks` (or fix the cells):\n" + "\n".join(found)


def test_every_notebook_is_listed_in_book_toml():
    assert COURSE.unlisted() == [], (
        "add these notebooks to book.toml (and run python -m vswin_edu.course --readme)"
    )


def _run(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A notebook as a clean run would store it: counts 1, 2, ... and the course's kernelspec."""
    for count, cell in enumerate(c for c in cells if c.cell_type == "code"):
        cell.execution_count = count + 1
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def test_a_clean_notebook_has_no_problems():
    nb = _run(
        new_markdown_cell("# Title"), new_code_cell("1 + 1"), new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(3)")
    )
    nb.cells[2].outputs = [new_output("stream", name="stdout", text="3\n")]
    assert problems(nb) == []


def test_problems_names_each_kind_of_staleness():
    nb = _run(new_code_cell("a"), new_code_cell("b"), new_code_cell("# NBVAL_CHECK_OUTPUT\nmodel"))
    nb.cells[1].execution_count = 5  # re-run out of order
    nb.cells[0].outputs = [new_output("error", ename="ValueError", evalue="bad window", traceback=[])]
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    nb.cells[2].outputs = [new_output("execute_result", data={"text/plain": "<Model at 0x7f3a2b1c9d10>"})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.metadata["papermill"] = {}
    found = "\n".join(problems(nb))
    assert "kernelspec is" in found
    assert "volatile notebook metadata 'papermill'" in found
    assert "cell 1: execution count 5, expected 2" in found
    assert "cell 0: error output ValueError: bad window" in found
    assert "volatile cell metadata 'execution' in cell(s) 1 (fix: make clean-notebooks)" in found
    assert "cell 2: checked output holds a run-dependent value: 'at 0x7f3a2b1c9d10'" in found


def test_clean_strips_volatile_metadata_and_dead_widget_state():
    cell = new_code_cell("ui")
    cell.outputs = [
        new_output("display_data", data={WIDGET_VIEW: {"model_id": "box"}, "text/plain": "VBox()"})
    ]
    cell.metadata.update(execution={"shell.execute_reply": "now"}, scrolled=True, tags=["keep"])
    nb = _run(cell)
    models = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_s"], "layout": "IPY_MODEL_l"}},
        "s": {"model_name": "IntSliderModel", "state": {"value": 3, "style": "IPY_MODEL_st"}},
        "st": {"model_name": "SliderStyleModel", "state": {}},
        "l": {"model_name": "LayoutModel", "state": {}},
        "old": {"model_name": "ImageModel", "state": {}},  # closed: no output displays it
    }
    nb.metadata.update(
        vscode={}, widgets={WIDGET_STATE: {"state": models, "version_major": 2, "version_minor": 0}}
    )
    nb.metadata["kernelspec"] = {"name": "other"}
    assert any("no output displays" in p for p in problems(nb))
    clean(nb)
    assert problems(nb) == []
    assert nb.metadata["kernelspec"] == KERNELSPEC and "vscode" not in nb.metadata
    assert set(nb.metadata["widgets"][WIDGET_STATE]["state"]) == {"box", "s", "st", "l"}
    assert cell.metadata == {"tags": ["keep"]}
    cell.outputs = []
    assert "widgets" not in clean(nb).metadata


def test_displayed_widget_without_saved_state_is_a_problem():
    cell = new_code_cell("ui")
    cell.outputs = [new_output("display_data", data={WIDGET_VIEW: {"model_id": "gone"}})]
    assert "1 displayed widget(s) without saved state" in "\n".join(problems(_run(cell)))


def test_execute_stores_a_clean_run_with_widget_state(tmp_path, capsys):
    path = tmp_path / "00_tiny.ipynb"
    nb = new_notebook(
        cells=[
            new_code_cell(
                "import ipywidgets\nslider = ipywidgets.IntSlider(value=4, description='T')\nslider"
            ),
            new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(slider.value * 2)"),
        ]
    )
    nb.cells[0].execution_count = 7  # stale
    nbformat.write(nb, path)
    assert main(["--check", str(path)]) == 1
    execute(path, COURSE)
    stored = nbformat.read(path, as_version=4)
    assert problems(stored) == []
    assert stored.cells[1].outputs[0]["text"] == "8\n"
    models = stored.metadata["widgets"][WIDGET_STATE]["state"]
    assert any(m["state"].get("value") == 4 and m["state"].get("description") == "T" for m in models.values())
    assert main(["--check", str(path)]) == 0
    assert "00_tiny.ipynb: ok" in capsys.readouterr().out


def test_cli_rejects_a_missing_path(tmp_path, capsys):
    assert main(["--strip", str(tmp_path / "nope.ipynb")]) == 1
    assert "no such notebook" in capsys.readouterr().err


@pytest.mark.parametrize("chapter", COURSE.chapters, ids=lambda c: c.slug)
def test_every_chapter_has_a_widget_and_a_static_figure(chapter):
    """COURSE.md: every chapter has a widget (a code cell tagged "widget" that displays one) and, for
    the HTML book and a reader without a kernel, at least one stored figure (an image output)."""
    path = COURSE.path(chapter)
    if not path.is_file():
        pytest.fail(f"{chapter.file} is listed in book.toml but missing from notebooks/")
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    tagged = [c for c in code if "widget" in c.metadata.get("tags", [])]
    assert tagged, f"{chapter.file}: no code cell tagged 'widget' (add a widget, or tag the cell showing it)"
    for cell in tagged:
        views = [o for o in cell.outputs if WIDGET_VIEW in o.get("data", {})]
        assert views, (
            f"{chapter.file}: the widget cell {cell.get('id')} displays no widget (run `make notebooks`)"
        )
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{chapter.file}: no stored figure (image output) for the book"
