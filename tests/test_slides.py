"""Lecture slides (vswin_edu.course.slides): the exported reveal.js pages load nothing from the network.

The browser checks (the exported slides opened from disk with networking off, and a live
jupyterlab-deck slideshow whose widget answers a slider) are in test_browser.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nbformat
import pytest

from vswin_edu.course import load_course
from vswin_edu.course.assets import MATHJAX_DIR, REVEAL_DIR, vendored_assets
from vswin_edu.course.book import book_notebook
from vswin_edu.course.notebooks import SLIDE_TYPES, clean, problems
from vswin_edu.course.slides import export_slides, main

COURSE = load_course()


def _chapter(number: str):
    return next(c for c in COURSE.chapters if c.file.startswith(number))


class _Fetches(HTMLParser):
    """Every URL the page itself loads: scripts, style sheets, images, frames, module imports."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in {"script", "img", "iframe", "source", "video", "audio"} and values.get("src"):
            self.urls.append(values["src"])
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"])


@pytest.fixture(scope="module")
def chapter05(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    (page,) = export_slides(["05"], out)
    return out, page


def test_the_vendored_assets_are_installed():
    assets = vendored_assets()
    assert (assets[REVEAL_DIR] / "dist" / "reveal.js").is_file()
    assert (assets[REVEAL_DIR] / "plugin" / "notes" / "notes.js").is_file()
    assert (assets[MATHJAX_DIR] / "MathJax.js").is_file()


def test_exported_slides_load_only_files_beside_them(chapter05):
    out, page = chapter05
    html = page.read_text(encoding="utf-8")
    parser = _Fetches()
    parser.feed(html)
    fetched = [u for u in parser.urls if not u.startswith("data:")]
    remote = [u for u in fetched if re.match(r"^(https?:)?//", u)]
    assert not remote, f"the slides fetch from the network: {remote}"
    assert re.findall(r"import\s+[^;]*from\s+['\"]https?://", html) == [], "a module import from a CDN"
    missing = [u for u in fetched if not (out / u.split("?")[0]).is_file()]
    assert not missing, f"the slides load files that were not copied beside them: {missing}"
    assert any(u.startswith(f"{MATHJAX_DIR}/MathJax.js") for u in fetched)
    assert f"{REVEAL_DIR}/dist/reveal.js" in fetched


def test_one_reveal_section_per_slide_and_widgets_drawn_as_saved(chapter05):
    _, page = chapter05
    html = page.read_text(encoding="utf-8")
    nb = nbformat.read(COURSE.path(_chapter("05")), as_version=4)
    slides = sum(c.metadata.get("slideshow", {}).get("slide_type") == "slide" for c in nb.cells)
    assert slides >= 10
    # nbconvert writes each slide as an outer <section> holding its (sub)slide sections
    outer = re.findall(r"<section\b[^>]*>\s*<section\b", html)
    assert len(outer) == slides, f"{len(outer)} slides in the page, {slides} in the chapter"
    assert "application/vnd.jupyter.widget-view+json" not in html
    assert "Widget shown as saved" in html  # the MaskDebugger's saved first view, as in the book
    assert "<details" in html  # solutions and reveals fold away


def test_chapter_links_point_at_the_other_slide_decks():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("see [the mask](05_attention_masks.ipynb#x)")]
    )
    slugs = {c.file.removesuffix(".ipynb") for c in COURSE.chapters}
    assert (
        "(05_attention_masks.slides.html#x)"
        in book_notebook(nb, slugs, page_suffix=".slides.html").cells[0].source
    )
    assert "(05_attention_masks.html#x)" in book_notebook(nb, slugs).cells[0].source


def test_cli_names_the_chapters_when_none_matches(tmp_path, capsys):
    assert main(["99", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no single chapter matches '99'" in err and "05_attention_masks.ipynb" in err


def test_every_chapter_uses_only_slide_types_every_tool_reads():
    for chapter in COURSE.chapters:
        nb = nbformat.read(COURSE.path(chapter), as_version=4)
        kinds = {c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells} - {None}
        assert kinds <= set(SLIDE_TYPES), f"{chapter.file}: slide types {kinds - set(SLIDE_TYPES)}"
        assert nb.cells[0].metadata["slideshow"]["slide_type"] == "slide", f"{chapter.file} starts no slide"


def test_clean_drops_the_continue_marker_and_problems_flags_unknown_types():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_markdown_cell("x")]
    nb.cells[0].metadata["slideshow"] = {"slide_type": "slide"}
    nb.cells[1].metadata["slideshow"] = {"slide_type": "-"}
    clean(nb)
    assert "slideshow" not in nb.cells[1].metadata
    nb.cells[1].metadata["slideshow"] = {"slide_type": "sub-slide"}
    assert any("slide type 'sub-slide'" in p for p in problems(nb))
