"""book.toml (vswin_edu.course.manifest), README's course map and the HTML book (vswin_edu.course.book)."""

from __future__ import annotations

import base64
import html
import html.parser
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vswin_edu.course import REPO_ROOT, CourseError, course_map, load_course, main, sync_readme
from vswin_edu.course.book import book_notebook, build_book, widget_html
from vswin_edu.course.notebooks import WIDGET_STATE, WIDGET_VIEW

MANIFEST = """\
[book]
title = "Tiny course"
authors = ["A. Author"]
[build]
notebooks_dir = "notebooks"
output_dir = "build/book"
api_modules = ["vswin_edu.windows"]
[[parts]]
title = "Part I"
[[parts.chapters]]
file = "03_window_partition.ipynb"
title = "Windows"
minutes = 10
goals = ["Split a grid into windows"]
[[parts.chapters]]
file = "05_attention_masks.ipynb"
title = "Masks"
minutes = 20
goals = ["Build a mask", "Debug it"]
"""


def _course_dir(tmp_path: Path, manifest: str = MANIFEST, files: tuple[str, ...] = ("03", "05")) -> Path:
    (tmp_path / "notebooks").mkdir()
    names = {"03": "03_window_partition.ipynb", "05": "05_attention_masks.ipynb"}
    for key in files:
        nbformat.write(
            new_notebook(cells=[new_markdown_cell("# A chapter")]), tmp_path / "notebooks" / names[key]
        )
    (tmp_path / "book.toml").write_text(manifest, encoding="utf-8")
    return tmp_path / "book.toml"


# --- the manifest -----------------------------------------------------------------------------


def test_repository_manifest_is_valid_and_ordered():
    course = load_course(require_files=False)
    numbers = [c.number for c in course.chapters]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert all(c.goals and c.minutes > 0 for c in course.chapters)
    assert course.notebooks_dir == REPO_ROOT / "notebooks"


def test_every_chapter_of_the_manifest_is_in_notebooks():
    load_course().check_files()  # raises CourseError naming each missing or unlisted notebook


@pytest.mark.parametrize("chapter", load_course(require_files=False).chapters, ids=lambda c: c.slug)
def test_notebook_heading_carries_the_manifest_title(chapter):
    path = load_course(require_files=False).path(chapter)
    assert path.is_file(), f"{chapter.file} is listed in book.toml but missing from notebooks/"
    nb = nbformat.read(path, as_version=4)
    lines = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()]
    heading = next((line for line in lines if line.startswith("# ")), None)
    assert heading is not None and heading.endswith(chapter.title), (
        f"{chapter.file}: first heading {heading!r} should end with book.toml's title {chapter.title!r}"
    )


def test_tiny_manifest_loads(tmp_path):
    course = load_course(_course_dir(tmp_path))
    assert [c.slug for c in course.chapters] == ["03_window_partition", "05_attention_masks"]
    assert course.chapters[1].goals == ("Build a mask", "Debug it")
    assert course.path(course.chapters[0]) == tmp_path / "notebooks" / "03_window_partition.ipynb"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('"05_attention_masks.ipynb"', '"../05_attention_masks.ipynb"'), "is not a chapter of notebooks/"),
        (('"05_attention_masks.ipynb"', '"05_masks.py"'), "is not a chapter of notebooks/"),
        (("minutes = 20", "minutes = 0"), "expected a positive number of minutes"),
        (("minutes = 20", 'minutes = "20"'), "minutes: expected a non-empty int"),
        (('goals = ["Split a grid into windows"]', "goals = []"), "goals: expected a non-empty list"),
        (('title = "Masks"', 'title = "Masks"\nlevel = 3'), "unknown key(s) ['level']"),
        (('title = "Masks"\n', ""), "missing key(s) ['title']"),
        (('"03_window_partition.ipynb"', '"07_window_partition.ipynb"'), "unique and in reading order"),
        (("[build]", "[build\n"), "not valid TOML"),
    ],
)
def test_manifest_errors_name_the_culprit(tmp_path, edit, message):
    manifest = MANIFEST.replace(*edit, 1)
    assert manifest != MANIFEST
    with pytest.raises(CourseError) as err:
        load_course(_course_dir(tmp_path, manifest), require_files=False)
    assert message in str(err.value)


def test_missing_and_unlisted_notebooks_are_errors(tmp_path):
    path = _course_dir(tmp_path, files=("03",))
    with pytest.raises(CourseError, match=r"'05_attention_masks.ipynb' \(Masks\) is listed in book.toml but"):
        load_course(path)
    load_course(path, require_files=False)  # the manifest itself is fine
    nbformat.write(new_notebook(), tmp_path / "notebooks" / "05_attention_masks.ipynb")
    nbformat.write(new_notebook(), tmp_path / "notebooks" / "06_extra.ipynb")
    with pytest.raises(CourseError, match="'06_extra.ipynb' is in notebooks/ but not in book.toml"):
        load_course(path)


def test_missing_manifest_is_an_error(tmp_path):
    with pytest.raises(CourseError, match="does not exist"):
        load_course(tmp_path / "book.toml")


# --- README's course map --------------------------------------------------------------------------


def test_readme_course_map_is_in_sync_with_book_toml():
    course = load_course(require_files=False)
    assert not sync_readme(course, check=True), (
        "README's course map is stale: python -m vswin_edu.course --readme"
    )


def test_sync_readme_touches_only_the_marked_section(tmp_path):
    course = load_course(_course_dir(tmp_path))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- course-map:start -->\nold\n<!-- course-map:end -->\noutro\n", "utf-8")
    assert sync_readme(course, readme)
    text = readme.read_text("utf-8")
    assert text.startswith("intro\n<!-- course-map:start -->\n") and text.endswith(
        "<!-- course-map:end -->\noutro\n"
    )
    assert "[Masks](notebooks/05_attention_masks.ipynb) | build a mask; debug it | 20 |" in text
    assert course_map(course) in text
    assert not sync_readme(course, readme)  # now in sync
    readme.write_text("no markers\n", "utf-8")
    with pytest.raises(CourseError, match="course-map:start"):
        sync_readme(course, readme)


def test_course_command_line(tmp_path, capsys):
    manifest = _course_dir(tmp_path)
    (tmp_path / "README.md").write_text("<!-- course-map:start -->\n<!-- course-map:end -->\n", "utf-8")
    assert main(["--manifest", str(manifest), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert main(["--manifest", str(manifest), "--readme"]) == 0
    assert main(["--manifest", str(manifest), "--check"]) == 0
    assert main(["--manifest", str(manifest)]) == 0
    assert "| 3 | [Windows](notebooks/03_window_partition.ipynb)" in capsys.readouterr().out
    (tmp_path / "notebooks" / "03_window_partition.ipynb").unlink()
    assert main(["--manifest", str(manifest)]) == 1
    assert "'03_window_partition.ipynb' (Windows) is listed in book.toml but" in capsys.readouterr().err


# --- widgets drawn from saved state -----------------------------------------------------------------

PNG = base64.b64encode(b"\x89PNG fake bytes").decode()
MODELS = {
    "box": {
        "model_name": "VBoxModel",
        "state": {"children": ["IPY_MODEL_s", "IPY_MODEL_d", "IPY_MODEL_r", "IPY_MODEL_i"]},
    },
    "s": {
        "model_name": "IntSliderModel",
        "state": {"description": "T", "min": 2, "max": 16, "step": 2, "value": 8},
    },
    "d": {
        "model_name": "DropdownModel",
        "state": {"description": "query", "_options_labels": ["(0,0,0)", "(1,2,3)"], "index": 1},
    },
    "r": {"model_name": "HTMLModel", "state": {"value": "<b>12 of 98 keys allowed</b>"}},
    "i": {
        "model_name": "ImageModel",
        "state": {"format": "png"},
        "buffers": [{"path": ["value"], "data": PNG}],
    },
}


def test_widget_html_draws_the_saved_values():
    page = widget_html("box", MODELS)
    assert "flex-direction:column" in page
    assert (
        "<label style='margin-right:0.5em'>T</label>" in page
        and "value='8'" in page
        and "<code>8</code>" in page
    )
    assert "<option selected>(1,2,3)</option>" in page and "<option>(0,0,0)</option>" in page
    assert "<b>12 of 98 keys allowed</b>" in page
    assert f"src='data:image/png;base64,{PNG}'" in page
    assert "not saved" in widget_html("gone", MODELS)


def test_book_notebook_replaces_widget_views_and_rewrites_chapter_links():
    cell = new_code_cell("ui", execution_count=1)
    cell.outputs = [
        new_output("display_data", data={WIDGET_VIEW: {"model_id": "box"}, "text/plain": "VBox()"})
    ]
    nb = new_notebook(
        cells=[new_markdown_cell("See [ch. 3](03_window_partition.ipynb#top) and [x](99_x.ipynb)."), cell]
    )
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": MODELS, "version_major": 2, "version_minor": 0}}
    page = book_notebook(nb, {"03_window_partition"})
    assert page.cells[0].source == "See [ch. 3](03_window_partition.html#top) and [x](99_x.ipynb)."
    assert list(page.cells[1].outputs[0]["data"]) == ["text/html"]
    assert "12 of 98 keys allowed" in page.cells[1].outputs[0]["data"]["text/html"]
    assert "widgets" not in page.metadata  # no CDN widget manager in the page
    assert WIDGET_VIEW in nb.cells[1].outputs[0]["data"]  # the stored notebook is untouched


# --- the built book ---------------------------------------------------------------------------------


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def _broken_links(site: Path) -> list[str]:
    broken = []
    for page in site.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text("utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:  # external, data: or same-page anchor
                continue
            base = site if parts.path.startswith("/") else page.parent  # 404.html links from the root
            target = (base / unquote(parts.path).lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)} -> {link}")
    return broken


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    course = load_course()
    site = tmp_path_factory.mktemp("book")
    index = build_book(course, site)
    assert index == site / "index.html"
    return site


@pytest.mark.slow
def test_book_has_every_chapter_page_in_order(book):
    course = load_course()
    index = (book / "index.html").read_text("utf-8")
    positions = [index.index(f'href="chapters/{c.slug}.html"') for c in course.chapters]
    assert positions == sorted(positions), "the table of contents must follow book.toml"
    for chapter in course.chapters:
        page = (book / "chapters" / f"{chapter.slug}.html").read_text("utf-8")
        assert html.escape(chapter.title, quote=False) in page
        assert WIDGET_VIEW not in page and "html-manager" not in page  # widgets drawn from saved state
        stored = nbformat.read(course.path(chapter), as_version=4)
        views = [o for c in stored.cells for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]
        assert page.count("Widget shown as saved") == len(views)
    first = (book / "chapters" / f"{course.chapters[0].slug}.html").read_text("utf-8")
    assert f'href="{course.chapters[1].slug}.html"' in first  # the "next" link


@pytest.mark.slow
def test_book_links_resolve_and_api_reference_is_generated(book):
    assert _broken_links(book) == []
    for module in load_course(require_files=False).api_modules:
        page = (book / "api" / f"{module}.html").read_text("utf-8")
        assert "doc-heading" in page, f"no docstrings rendered for {module}"
    api = (book / "api" / "vswin_edu.windows.html").read_text("utf-8")
    assert re.search(r"window_partition", api)


@pytest.mark.slow
def test_book_loads_mathjax_from_its_own_folder(book):
    assert (book / "mathjax" / "MathJax.js").is_file()
    page = (book / "chapters" / "05_attention_masks.html").read_text("utf-8")
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page)
    assert not [s for s in scripts if re.match(r"^(https?:)?//", s)], f"scripts from the network: {scripts}"
    assert any(s.startswith("../mathjax/MathJax.js?config=") for s in scripts), scripts
    assert page.index("window.MathJax =") < page.index("../mathjax/MathJax.js")  # configured first


def test_build_book_refuses_a_missing_chapter(tmp_path):
    path = _course_dir(tmp_path)
    course = load_course(path)
    shutil.rmtree(tmp_path / "notebooks")
    with pytest.raises(CourseError, match="does not exist"):
        build_book(course, tmp_path / "site")


# --- solutions and reveals folded into <details> ------------------------------------------------------


def test_book_folds_solution_and_reveal_cells_into_details():
    from nbconvert.filters.markdown import markdown2html_mistune

    from vswin_edu.course.book import COLLAPSED

    solution = new_code_cell(
        "def f(x):\n    return x < 1", execution_count=1, metadata={"tags": ["solution"]}
    )
    solution.outputs = [new_output("stream", name="stdout", text="✅ Exercise 0.1\n   <correct>\n")]
    reveal_text = new_markdown_cell("**63** frames: $0 + 31 \\cdot 2 = 62$.", metadata={"tags": ["reveal"]})
    reveal_code = new_code_cell("plot()", execution_count=2, metadata={"tags": ["reveal", "keep"]})
    reveal_code.outputs = [new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    plain = new_code_cell("print(1)", execution_count=3)
    nb = new_notebook(cells=[new_markdown_cell("# A chapter"), solution, reveal_text, reveal_code, plain])
    page = book_notebook(nb, set())
    assert COLLAPSED == {"solution": "Solution", "reveal": "Reveal"}
    folded_solution, folded_text, folded_code = page.cells[1:4]
    assert all(c.cell_type == "markdown" for c in (folded_solution, folded_text, folded_code))
    assert folded_solution.source.startswith("<details><summary>Solution</summary>\n\n```python\ndef f(x):")
    assert folded_solution.source.endswith("</details>") and "&lt;correct&gt;" in folded_solution.source
    assert folded_text.source.startswith("<details><summary>Reveal</summary>\n\n**63** frames")
    assert f"src='data:image/png;base64,{PNG}'" in folded_code.source
    assert folded_code.metadata["tags"] == ["reveal", "keep"] and folded_code.id == reveal_code.id
    assert page.cells[4] == plain and nb.cells[1].cell_type == "code"  # others and the input untouched
    rendered = markdown2html_mistune(folded_solution.source)  # what the book's Markdown renderer makes
    assert rendered.startswith("<details><summary>Solution</summary>") and rendered.rstrip().endswith(
        "</details>"
    )
    assert '<span class="k">def</span>' in rendered and "✅ Exercise 0.1" in rendered


@pytest.mark.slow
def test_book_pages_fold_every_solution_and_reveal(book):
    course = load_course()
    for chapter in course.chapters:
        page = (book / "chapters" / f"{chapter.slug}.html").read_text("utf-8")
        stored = nbformat.read(course.path(chapter), as_version=4)
        tags = [t for c in stored.cells for t in c.metadata.get("tags", [])]
        assert page.count("<details><summary>Solution</summary>") == tags.count("solution"), chapter.file
        assert page.count("<details><summary>Reveal</summary>") == tags.count("reveal"), chapter.file
        assert page.count("<details") == page.count("</details>")  # every block is closed
