"""Notebook hygiene: re-execute the chapters, store clean outputs, and check stored notebooks.

A stored chapter must look like one clean top-to-bottom run in a fresh kernel: execution counts
1, 2, 3, ... over its code cells, no error outputs, the course's kernelspec, and no volatile
metadata (per-cell execution timings, UI scroll state).  Widget state is kept, but only for the
widgets a stored output displays (and their layouts and children), so the HTML book can draw the
widgets' default views without a kernel and the files do not fill up with dead models.

Learner copies (``make learner``) are driven by two cell tags in the stored chapters: a cell
tagged ``solution`` defines a learner's function and calls ``check("N.M", fn)``; in the copy the
function becomes the exercise's stub (:attr:`vswin_edu.exercises.Exercise.stub`: the solution's
signature, a docstring, ``return TODO``) and its outputs are cleared.  A cell tagged ``reveal``
answers a "predict, then reveal" prompt; in the copy it is collapsed (JupyterLab's
``jupyter.source_hidden`` / ``outputs_hidden``, one click shows it) and its outputs are cleared.

Command line (``make notebooks`` / ``make clean-notebooks`` / ``make learner``)::

    python -m vswin_edu.course.notebooks [paths...]   # re-execute (default: every chapter, book.toml order)
    python -m vswin_edu.course.notebooks --strip      # only strip volatile metadata, no execution
    python -m vswin_edu.course.notebooks --check      # report hygiene problems; exit 1 if there are any
    python -m vswin_edu.course.notebooks --learner DIR   # write learner copies of the chapters into DIR
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from .manifest import Course, CourseError, load_course

__all__ = [
    "HIDDEN",
    "KERNELSPEC",
    "REVEAL_TAG",
    "SLIDE_TYPES",
    "SOLUTION_TAG",
    "WIDGET_STATE",
    "WIDGET_VIEW",
    "checked_exercises",
    "clean",
    "execute",
    "learner_copy",
    "problems",
    "widget_state",
    "write_learner_copies",
]

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
SOLUTION_TAG = "solution"  # the cell defines a learner's function and checks it: stubbed in a learner copy
REVEAL_TAG = "reveal"  # the cell answers a "predict, then reveal" prompt: collapsed in a learner copy
HIDDEN = {"source_hidden": True, "outputs_hidden": True}  # JupyterLab's collapsed input and output
# Slide types every slideshow tool reads (nbconvert, RISE, jupyterlab-deck); a cell without one
# continues the slide above.  JupyterLab's editor writes "-" for "continue", which nbconvert and RISE
# read but jupyterlab-deck hides, so `clean` drops it: no type and "-" mean the same.
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes")


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
        if cell.metadata.get("slideshow", {}).get("slide_type") == "-":
            cell.metadata.pop("slideshow")
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
    for i, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        if kind is not None and kind not in SLIDE_TYPES:
            found.append(f"cell {i}: slide type {kind!r}, expected one of {SLIDE_TYPES} or none")
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


# --- learner copies -------------------------------------------------------------------------------


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


def checked_exercises(source: str) -> list[tuple[str, str | None]]:
    """``(exercise id, name of the checked function or None)`` for each ``check("N.M", fn)`` call."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "check"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            answer = node.args[1] if len(node.args) > 1 else None
            found.append((node.args[0].value, answer.id if isinstance(answer, ast.Name) else None))
    return found


def _imports_todo(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # e.g. a cell magic: it imports nothing we need
        return False
    return any(
        isinstance(node, ast.ImportFrom) and any(alias.name == "TODO" for alias in node.names)
        for node in ast.walk(tree)
    )


def _stub_cell(source: str, where: str, import_todo: bool) -> str:
    """``source`` with every function it checks replaced by that exercise's stub."""
    from ..exercises import registry  # lazy: it imports torch, which the other commands do not need

    exercises = registry()
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise CourseError(f"{where}: a {SOLUTION_TAG!r} cell must be plain Python ({err})") from None
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    checked = checked_exercises(source)
    if not checked:
        raise CourseError(f"{where}: a {SOLUTION_TAG!r} cell must call check('N.M', your_function)")
    lines = source.splitlines()
    replacements = []
    for id, name in checked:
        if id not in exercises:
            raise CourseError(f"{where}: check({id!r}, ...) names no registered exercise")
        if name not in functions:
            raise CourseError(
                f"{where}: check({id!r}, {name}) must check a function the cell defines "
                f"(defined here: {sorted(functions) or 'none'})"
            )
        func = functions[name]
        start = min([func.lineno] + [d.lineno for d in func.decorator_list])
        replacements.append((start, func.end_lineno, exercises[id].stub_named(name)))
    for start, end, stub in sorted(replacements, reverse=True):
        lines[start - 1 : end] = stub.splitlines()
    if import_todo:
        first = 1 if lines and lines[0].startswith("#") else 0  # after a leading # NBVAL_... marker
        lines.insert(first, "from vswin_edu.exercises import TODO")
    return "\n".join(lines)


def learner_copy(
    nb: nbformat.NotebookNode, kernel: str = "python3", name: str = "notebook"
) -> nbformat.NotebookNode:
    """A learner's copy of a stored chapter (a new notebook; ``nb`` is not changed).

    Cells tagged ``solution`` get the exercise's stub in place of the checked function, cells
    tagged ``reveal`` are collapsed; both lose their outputs.  Other cells keep theirs.
    """
    nb = copy.deepcopy(nb)
    todo_imported = False
    for index, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if cell.cell_type == "code" and SOLUTION_TAG in tags:
            cell.source = _stub_cell(
                cell.source, f"{name}, cell {index} ({cell.get('id')})", not todo_imported
            )
            todo_imported = True
        if REVEAL_TAG in tags:
            cell.metadata["jupyter"] = dict(HIDDEN)
        if cell.cell_type == "code":
            todo_imported = todo_imported or _imports_todo(cell.source)
            if SOLUTION_TAG in tags or REVEAL_TAG in tags:
                cell.outputs = []
                cell.execution_count = None
    return clean(nb, kernel)


def write_learner_copies(course: Course, out_dir: str | Path, paths: list[Path] | None = None) -> list[Path]:
    """Write a learner copy of every chapter (or of ``paths``) into ``out_dir``; return the copies."""
    out = Path(out_dir)
    sources = paths if paths is not None else [course.path(c) for c in course.chapters]
    if clash := [str(p) for p in sources if (out / p.name).resolve() == p.resolve()]:
        raise CourseError(f"--learner {out_dir}: the copies would overwrite the chapters themselves: {clash}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sources:
        target = out / path.name
        nbformat.write(learner_copy(nbformat.read(path, as_version=4), course.kernel, path.name), target)
        written.append(target)
    return written


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
    action.add_argument(
        "--learner",
        metavar="DIR",
        help="write learner copies (stubs for solutions, reveal cells collapsed) into DIR, execute nothing",
    )
    args = parser.parse_args(argv)
    try:
        course = load_course(require_files=not args.paths)
        paths = _paths(course, args.paths)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.learner:
        try:
            written = write_learner_copies(course, args.learner, paths)
        except CourseError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for target in written:
            print(f"{target}: learner copy")
        return 0
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
