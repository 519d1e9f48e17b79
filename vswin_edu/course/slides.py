"""The chapters as lecture slides: live inside JupyterLab (jupyterlab-deck), or exported reveal.js offline.

Every chapter carries slide metadata (``slideshow.slide_type``: a new slide at each section,
fragments where a reveal should wait for a click), so the same notebook is the lecture.

**Live, with widgets** — `make setup` installs ``jupyterlab-deck``, which presents the notebook
*inside* JupyterLab: open a chapter, run it, and run *Start Deck* from the command palette
(``Ctrl+Shift+C``; the command ``deck:start``).  The slides are the notebook's own cells on its
kernel, so widgets respond on a slide exactly as in the notebook and ``Shift+Enter`` runs the cell
in view.  The on-screen arrows (commands ``deck:forward`` / ``deck:back``) step through slides and
fragments; *Stop Deck* leaves.  (``jupyterlab-rise`` was the first choice, but its separate
slideshow page cannot load the ipywidgets 8.1 manager and shows widgets as text:
jupyterlab-contrib/rise#119.)

**Exported, offline** — ``make slides`` (``python -m vswin_edu.course.slides [CHAPTER ...]``) writes
``build/slides/NN_slug.slides.html`` from the *stored* chapters, with reveal.js (the copy that
``sphinx-revealjs`` vendors) and MathJax 2 (``jupyter-server-mathjax``) copied beside them and
nbconvert's CDN fetches removed (``templates/vswin_slides``): the folder opens from a USB stick
in a lecture room without network.  Widgets are drawn as saved, as in the book
(:func:`vswin_edu.course.book.book_notebook`); solutions and reveals fold into ``<details>``.

Command line::

    python -m vswin_edu.course.slides [05 ...] [--output DIR]   # default: every chapter, build/slides
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter

from .assets import MATHJAX_CONFIG, MATHJAX_DIR, REVEAL_DIR, copy_assets, mathjax_preconfig
from .book import book_notebook
from .manifest import REPO_ROOT, Chapter, Course, CourseError, load_course

__all__ = ["export_slides", "slides_exporter"]

TEMPLATES = Path(__file__).parent / "templates"


def slides_exporter() -> SlidesExporter:
    """nbconvert's slides exporter on the offline template: every URL it writes is relative."""
    exporter = SlidesExporter(
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="vswin_slides",
        reveal_url_prefix=REVEAL_DIR,
        reveal_theme="white",
        reveal_scroll=True,
        mathjax_url=f"{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}",
    )
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    return exporter


def _select(course: Course, wanted: Sequence[str]) -> list[Chapter]:
    if not wanted:
        return list(course.chapters)
    chosen = []
    for key in wanted:
        match = [c for c in course.chapters if c.file.startswith(key.zfill(2)) or c.file == key]
        if len(match) != 1:
            known = ", ".join(c.file for c in course.chapters)
            raise CourseError(f"no single chapter matches {key!r}; the chapters are {known}")
        chosen.append(match[0])
    return chosen


def export_slides(
    chapters: Sequence[str] = (), output: str | Path | None = None, course: Course | None = None
) -> list[Path]:
    """Write reveal.js slides of the stored ``chapters`` (numbers like ``"05"`` or file names; all
    by default) into ``output`` (default ``build/slides``), with their assets; returns the pages."""
    course = course or load_course()
    output = Path(output) if output is not None else REPO_ROOT / "build" / "slides"
    output.mkdir(parents=True, exist_ok=True)
    copy_assets(output)
    exporter = slides_exporter()
    slugs = {c.file.removesuffix(".ipynb") for c in course.chapters}
    pages = []
    for chapter in _select(course, chapters):
        nb = book_notebook(
            nbformat.read(course.path(chapter), as_version=4), slugs, page_suffix=".slides.html"
        )
        body, _ = exporter.from_notebook_node(
            nb, resources={"metadata": {"name": chapter.title}, "mathjax_preconfig": mathjax_preconfig()}
        )
        page = output / chapter.file.replace(".ipynb", ".slides.html")
        page.write_text(body, encoding="utf-8")
        pages.append(page)
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vswin_edu.course.slides", description=__doc__.split("\n")[0]
    )
    parser.add_argument("chapters", nargs="*", help="chapter numbers (05) or files; default: all")
    parser.add_argument("--output", default=None, help="folder for the slides (default: build/slides)")
    args = parser.parse_args(argv)
    try:
        pages = export_slides(args.chapters, args.output)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for page in pages:
        print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
