"""Honest prose: the numbers the chapters' markdown states are the numbers the library computes.

A chapter that states a number its cells compute ties the two together in a code cell tagged
``claims`` that calls :func:`vswin_edu.exercises.claims.claim` with the text exactly as the markdown
writes it.  Here, without executing the notebooks:

* every claimed text stands word for word in the chapter's markdown (edit the prose, and the claim
  no longer matches: the test says so);
* every claims cell is checked by nbval (``# NBVAL_CHECK_OUTPUT``) and imports what it uses: it is
  run here on its own against the current library, and its printout must be its stored output —
  so a change of the library that moves a stated number fails here, not in a lecture;
* the drifts found in review (issue 14) stay fixed.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re

import matplotlib

matplotlib.use("Agg")

import nbformat
import pytest

from vswin_edu.course import REPO_ROOT, load_course
from vswin_edu.exercises.claims import ClaimError, claim, stated_numbers

COURSE = load_course(require_files=False)
TAG = "claims"
CHECK = "# NBVAL_CHECK_OUTPUT"


def _notebooks() -> dict[str, nbformat.NotebookNode]:
    return {
        c.file: nbformat.read(COURSE.path(c), as_version=4)
        for c in COURSE.chapters
        if COURSE.path(c).is_file()
    }


NOTEBOOKS = _notebooks()
CLAIM_CELLS = [
    (name, cell)
    for name, nb in NOTEBOOKS.items()
    for cell in nb.cells
    if cell.cell_type == "code" and TAG in cell.metadata.get("tags", [])
]


def _ids():
    return [f"{name.split('_')[0]}:{cell.get('id')}" for name, cell in CLAIM_CELLS]


def _flat(text: str) -> str:
    """Markdown with every run of white space made one space (a claim may cross a line break)."""
    return re.sub(r"\s+", " ", text)


def _markdown(name: str) -> str:
    return _flat("\n".join(c.source for c in NOTEBOOKS[name].cells if c.cell_type == "markdown"))


def _stated(cell) -> list[str]:
    """The literal first arguments of the cell's ``claim(...)`` calls."""
    found = []
    for node in ast.walk(ast.parse(cell.source)):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "claim"
        ):
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"claim(...) must state its text as a string literal: {ast.unparse(node)}"
            )
            found.append(first.value)
    return found


def _stored_stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")


def test_the_chapters_tie_their_numbers_to_claims():
    chapters = {name for name, _ in CLAIM_CELLS}
    assert len(chapters) >= 8, f"claims cells only in {sorted(chapters)}"
    assert sum(len(_stated(cell)) for _, cell in CLAIM_CELLS) >= 40


@pytest.mark.parametrize(("name", "cell"), CLAIM_CELLS, ids=_ids())
def test_every_claim_is_stated_in_the_markdown_and_checked_by_nbval(name, cell):
    assert cell.source.startswith(CHECK), f"{name}: a claims cell must start with {CHECK!r}"
    stated = _stated(cell)
    assert stated, f"{name}: a cell tagged {TAG!r} without a claim(...) call"
    prose = _markdown(name)
    missing = [text for text in stated if _flat(text) not in prose]
    assert not missing, f"{name}: claimed but not (or no longer) written in the markdown: {missing}"


@pytest.mark.parametrize(("name", "cell"), CLAIM_CELLS, ids=_ids())
def test_every_claims_cell_runs_on_its_own_and_prints_its_stored_output(name, cell, monkeypatch):
    monkeypatch.chdir(REPO_ROOT / "notebooks")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(cell.source, f"{name}:{cell.get('id')}", "exec"), {"__name__": "__claims__"})
    printed = out.getvalue()
    assert printed.count("✔") == len(_stated(cell))
    assert printed == _stored_stdout(cell), (
        f"{name}: the stored output of claims cell {cell.get('id')} is stale; re-execute the chapter "
        f"(python -m vswin_edu.course.notebooks notebooks/{name})"
    )


# --- the helper ------------------------------------------------------------------------------------


def test_stated_numbers_reads_prose_and_latex():
    assert stated_numbers("39.9 of 87.3 GMACs") == [(39.9, 1), (87.3, 1)]
    assert stated_numbers("$50{,}176$ tokens and 2,535 rows") == [(50176.0, 0), (2535.0, 0)]
    assert stated_numbers("stage S3, x2, 10^5: -0.5") == [(-0.5, 1)]


def test_claim_accepts_the_rounded_value_and_names_the_mismatch(capsys):
    claim("485 GMACs", 485.23)
    claim("49 of the 128 windows", (49, 128))
    claim("about 3×", 3.2, rel=0.1)
    assert capsys.readouterr().out == (
        "✔ '485 GMACs' = 485.2\n✔ '49 of the 128 windows' = 49, 128\n✔ 'about 3×' = 3.2\n"
    )
    with pytest.raises(
        ClaimError, match=r"the text says 'most of 87\.3 GMACs', but the cell computes 39\.88"
    ):
        claim("most of 87.3 GMACs", 39.88)
    with pytest.raises(ClaimError, match="allowed: 5.6 ± 0.05"):
        claim("5.6 GMACs", 5.66)
    with pytest.raises(ValueError, match="holds 2 number"):
        claim("49 of 128", 49)
    with pytest.raises(ValueError, match="must contain a number"):
        claim("most windows", 49)
    with pytest.raises(ValueError, match="tol or rel"):
        claim("3", 3, tol=1, rel=0.1)


# --- the drifts found in review stay fixed (issue 14) --------------------------------------------

DRIFTS = {
    "14_performance.ipynb": ["most windows share the all-zero"],
    "13_checkpoints.ipynb": ["most compute in the early", "another 10.8M", "has 0.24M"],
    "07_window_attention_block.ipynb": ["about 6×", "their logit is just the bias"],
    "03_window_partition.ipynb": ["all-zero) keys", "all-zero keys"],
    "02_why_local_attention.ipynb": ["stays near slope 1"],
    "11_training.ipynb": [
        "which Video\nSwin gets from attention across the frames",
        "gets from attention across the frames",
    ],
    "08_patch_merging_hierarchy.ipynb": ["and most of the compute"],
}


@pytest.mark.parametrize("name", sorted(DRIFTS))
def test_known_drifts_do_not_come_back(name):
    prose = _markdown(name)
    back = [phrase for phrase in DRIFTS[name] if _flat(phrase) in prose]
    assert not back, f"{name} says again: {back}"


def test_no_docstring_calls_padded_keys_zero():
    # with qkv_bias a padded token's key is b_k, not zero (chapters 3 and 7, vswin_edu.windows.pad_to_window)
    for path in sorted((REPO_ROOT / "vswin_edu").rglob("*.py")):
        text = _flat(path.read_text())
        for phrase in ("all-zero keys", "zero keys", "keys of zeros"):
            assert phrase not in text, f"{path.relative_to(REPO_ROOT)} says {phrase!r}"
