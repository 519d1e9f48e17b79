"""Notebook hygiene: re-execute the chapters, store clean outputs, and check stored notebooks.

A stored chapter must look like one clean top-to-bottom run in a fresh kernel: execution counts
1, 2, 3, ... over its code cells, no error outputs, the course's kernelspec, and no volatile
metadata (per-cell execution timings, UI scroll state).  Widget state is kept, but only for the
widgets a stored output displays (and their layouts and children), so the HTML book can draw the
widgets' default views without a kernel and the files do not fill up with dead models.

Command line (``make notebooks`` / ``make clean-notebooks``)::

    python -m vswin_edu.course.notebooks [paths...]   # re-execute (default: every chapter, book.toml order)
    python -m vswin_edu.course.notebooks --strip      # only strip volatile metadata, no execution
    python -m vswin_edu.course.notebooks --check      # report hygiene problems; exit 1 if there are any
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from .manifest import Course, CourseError, load_course

__all__ = ["KERNELSPEC", "WIDGET_STATE", "WIDGET_VIEW", "clean", "execute", "problems", "widget_state"]

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Metadata an editor or executor writes that changes on every run or click and teaches nothing.
VOLATILE_CELL_KEYS = ("execution", "ExecuteTime", "scrolled", "collapsed")
VOLATILE_NOTEBOOK_KEYS = ("papermill", "vscode", "toc", "varInspector", "colab")
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
# What makes a checked output differ between runs: memory addresses and progress bars.
_UNSTABLE = re.compile(r"\bat 0x[0-9a-f]{6,}|\d+(\.\d+)?\s*(it/s|s/it)\b")
_MODEL_REF = re.compile(r"^IPY_MODEL_(\w+)$")


def widget_state(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The notebook's saved widget models, ``{model_id: {"model_name", "state", ...}}`` (maybe empty)."""
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _displayed_models(nb: nbformat.NotebookNode) -> list[str]:
    return [
        out["data"][WIDGET_VIEW]["model_id"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if WIDGET_VIEW in out.get("data", {})
    ]


def _references(value: Any) -> list[str]:
    """Model ids a widget state points to (``"IPY_MODEL_<id>"`` strings, nested anywhere)."""
    if isinstance(value, str):
        match = _MODEL_REF.match(value)
        return [match.group(1)] if match else []
    if isinstance(value, dict):
        return [ref for v in value.values() for ref in _references(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in _references(v)]
    return []


def _reachable(nb: nbformat.NotebookNode) -> set[str]:
    """Ids of the displayed widget models and of every model they refer to, transitively."""
    models, seen = widget_state(nb), set()
    todo = _displayed_models(nb)
    while todo:
        model_id = todo.pop()
        if model_id in seen or model_id not in models:
            continue
        seen.add(model_id)
        todo += _references(models[model_id].get("state", {}))
    return seen


def clean(nb: nbformat.NotebookNode, kernel: str = "python3") -> nbformat.NotebookNode:
    """Strip volatile metadata, set the kernelspec and drop undisplayed widget state (in place)."""
    nb.metadata["kernelspec"] = {**KERNELSPEC, "name": kernel}
    for key in VOLATILE_NOTEBOOK_KEYS:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
    keep = _reachable(nb)
    if keep:
        state = nb.metadata["widgets"][WIDGET_STATE]
        state["state"] = {k: v for k, v in state["state"].items() if k in keep}
    else:
        nb.metadata.pop("widgets", None)
    return nb


def problems(nb: nbformat.NotebookNode, kernel: str = "python3") -> list[str]:
    """Why a stored notebook is not one clean top-to-bottom run; an empty list if it is."""
    found = []
    expected = {**KERNELSPEC, "name": kernel}
    if nb.metadata.get("kernelspec") != expected:
        found.append(f"kernelspec is {nb.metadata.get('kernelspec')!r}, expected {expected!r}")
    found += [f"volatile notebook metadata {key!r}" for key in VOLATILE_NOTEBOOK_KEYS if key in nb.metadata]
    code = [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    for count, (i, cell) in enumerate(code, start=1):
        where = f"cell {i}:"
        if cell.execution_count != count:
            found.append(f"{where} execution count {cell.execution_count}, expected {count} (stale outputs?)")
        for out in cell.outputs:
            if out.output_type == "error":
                found.append(f"{where} error output {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr" and "Traceback" in out.text:
                found.append(f"{where} a traceback on stderr")
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            if cell.source.startswith(CHECK_MARK) and (unstable := _UNSTABLE.search(text)):
                found.append(f"{where} checked output holds a run-dependent value: {unstable[0]!r}")
    for key in VOLATILE_CELL_KEYS:
        if cells := [str(i) for i, cell in enumerate(nb.cells) if key in cell.metadata]:
            found.append(
                f"volatile cell metadata {key!r} in cell(s) {', '.join(cells)} (fix: make clean-notebooks)"
            )
    saved = widget_state(nb)
    unsaved = sorted({m for m in _displayed_models(nb) if m not in saved})
    if unsaved:
        found.append(f"{len(unsaved)} displayed widget(s) without saved state (re-run make notebooks)")
    if dead := saved.keys() - _reachable(nb):
        found.append(f"{len(dead)} saved widget model(s) that no output displays (fix: make clean-notebooks)")
    return found


def execute(path: Path, course: Course) -> float:
    """Run one notebook top to bottom in a fresh kernel, store outputs and widget state in place.

    The working directory is the notebook's folder, as in JupyterLab.  Returns the seconds taken.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=course.timeout,
        kernel_name=course.kernel,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,  # lets the book show widgets' default views without a kernel
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(clean(nb, course.kernel), path)
    return seconds


def _paths(course: Course, names: list[str]) -> list[Path]:
    if not names:
        return [course.path(c) for c in course.chapters]
    paths = [Path(name) for name in names]
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise CourseError(f"no such notebook(s): {', '.join(missing)}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vswin_edu.course.notebooks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("paths", nargs="*", help="notebooks (default: every chapter of book.toml, in order)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--strip", action="store_true", help="strip volatile metadata only, do not execute")
    action.add_argument("--check", action="store_true", help="report hygiene problems, change nothing")
    args = parser.parse_args(argv)
    try:
        course = load_course(require_files=not args.paths)
        paths = _paths(course, args.paths)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    failed = 0
    for path in paths:
        if args.check:
            found = problems(nbformat.read(path, as_version=4), course.kernel)
            failed += bool(found)
            print(f"{path.name}: " + ("ok" if not found else "\n  ".join(["problems:", *found])))
        elif args.strip:
            nbformat.write(clean(nbformat.read(path, as_version=4), course.kernel), path)
            print(f"{path.name}: stripped")
        else:
            print(f"{path.name}: executing ...", end=" ", flush=True)
            try:
                print(f"{execute(path, course):.1f} s")
            except CellExecutionError as err:  # the stored notebook is left as it was
                failed += 1
                print(f"FAILED, notebook not written:\n{err}")
    return int(failed > 0)


if __name__ == "__main__":
    sys.exit(main())
