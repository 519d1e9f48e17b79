"""The course as a static HTML book (``make book``): chapters, table of contents and API reference.

Reads ``book.toml`` (:mod:`vswin_edu.course.manifest`), renders the *stored* notebooks without executing
them (mkdocs-jupyter), generates the index and the navigation from the manifest (previous / next
links come from mkdocs-material's footer) and the API reference from the library's docstrings
(mkdocstrings).  Everything is built offline, and the book reads offline too: MathJax 2 is copied
into `build/book/mathjax/` (:mod:`vswin_edu.course.assets`), so math renders from disk with no network.

Exercise solutions (cells tagged ``solution``) and the answers to "predict, then reveal" prompts
(tagged ``reveal``) are folded into ``<details>`` blocks — *Solution* / *Reveal* — so a reader
decides when to look.

Widgets need a kernel, and the usual way to show them without one (ipywidgets' HTML manager)
loads JavaScript from a CDN.  Instead, each displayed widget is drawn from the widget state the
notebook stores (:mod:`vswin_edu.course.notebooks` saves it) as plain HTML: its images, readouts and
controls at their default values, so a reader sees what the widget first shows.

Command line::

    python -m vswin_edu.course.book [--output DIR]   # default: build/book (book.toml's [build].output_dir)
"""

from __future__ import annotations

import argparse
import copy
import html
import importlib.util
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import yaml

from .assets import MATHJAX_CONFIG, MATHJAX_DIR, copy_assets, mathjax_preconfig
from .manifest import REPO_ROOT, Course, CourseError, load_course
from .notebooks import REVEAL_TAG, SOLUTION_TAG, WIDGET_VIEW, widget_state

__all__ = ["COLLAPSED", "build_book", "book_notebook", "collapsed_cell", "widget_html"]

# Cell tag -> the summary line of the <details> block the book folds such a cell into.
COLLAPSED = {SOLUTION_TAG: "Solution", REVEAL_TAG: "Reveal"}

_CHAPTER_LINK = re.compile(r"\]\((\d{2}_[a-z0-9_]+)\.ipynb(#[^)\s]*)?\)")
# MathJax is copied into the book (vswin_edu.course.assets), so math renders with the network off;
# chapter pages live in chapters/, one level below the copy.
MATHJAX_URL = f"../{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}"
_FLEX = "display:flex;gap:0.5em;flex-wrap:wrap;align-items:{align};flex-direction:{direction}"


def _label(state: dict[str, Any]) -> str:
    text = state.get("description") or ""
    return f"<label style='margin-right:0.5em'>{html.escape(text)}</label>" if text else ""


def _outputs_html(outputs: list[dict[str, Any]]) -> str:
    """Outputs captured by an ``Output`` widget, drawn like the notebook draws cell outputs."""
    parts = []
    for out in outputs:
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            parts.append(f"<pre>{html.escape(out.get('text', ''))}</pre>")
        elif "image/png" in data:
            parts.append(f"<img src='data:image/png;base64,{data['image/png']}'>")
        elif "text/html" in data:
            # no blank lines: inside a Markdown cell a blank line would end the HTML block
            parts.append(re.sub(r"\n\s*\n", "\n", "".join(data["text/html"])))
        elif "text/plain" in data:
            parts.append(f"<pre>{html.escape(''.join(data['text/plain']))}</pre>")
    return "".join(parts)


def widget_html(model_id: str, models: dict[str, Any]) -> str:
    """Static HTML for one saved widget model and its children, at the values it was saved with.

    ``models`` is the notebook's widget state ``{model_id: {"model_name", "state", "buffers"}}``.
    Controls are drawn disabled; unknown widgets show their description and value.
    """
    model = models.get(model_id)
    if model is None:
        return "<em>(widget state not saved; run make notebooks)</em>"
    name, state = model["model_name"].removesuffix("Model"), model["state"]

    def child(ref: str) -> str:
        return widget_html(ref.removeprefix("IPY_MODEL_"), models)

    if name in ("Box", "HBox", "VBox", "GridBox", "Accordion", "Tab", "Stack"):
        direction = "row" if name in ("HBox", "GridBox") else "column"
        style = _FLEX.format(direction=direction, align="center" if direction == "row" else "flex-start")
        return f"<div style='{style}'>{''.join(child(c) for c in state.get('children', []))}</div>"
    if name == "Image":
        data = next((b["data"] for b in model.get("buffers", []) if b["path"] == ["value"]), "")
        return f"<img alt='{html.escape(name)}' src='data:image/{state.get('format', 'png')};base64,{data}'>"
    if name in ("HTML", "HTMLMath"):
        return f"<div>{_label(state)}{state.get('value', '')}</div>"
    if name == "Output":
        return f"<div>{_outputs_html(state.get('outputs', []))}</div>"
    if name == "Button":
        return f"<button disabled>{html.escape(state.get('description', ''))}</button>"
    if "_options_labels" in state:  # Dropdown, ToggleButtons, RadioButtons, Select, SelectionSlider
        index = state.get("index")
        options = "".join(
            f"<option{' selected' if i == index else ''}>{html.escape(str(o))}</option>"
            for i, o in enumerate(state["_options_labels"])
        )
        return f"<div>{_label(state)}<select disabled>{options}</select></div>"
    value = state.get("value", "")
    if name.endswith("Slider") and not isinstance(value, list):
        low, high, step = state.get("min", 0), state.get("max", 100), state.get("step", 1)
        slider = f"<input type='range' disabled min='{low}' max='{high}' step='{step}' value='{value}'>"
        return f"<div>{_label(state)}{slider} <code>{html.escape(str(value))}</code></div>"
    if isinstance(value, bool):
        return f"<div><input type='checkbox' disabled{' checked' if value else ''}> {_label(state)}</div>"
    return f"<div>{_label(state)}<code>{html.escape(str(value))}</code></div>"


def collapsed_cell(cell: nbformat.NotebookNode, summary: str) -> nbformat.NotebookNode:
    """A Markdown cell that folds ``cell`` (code with its outputs, or Markdown) into ``<details>``.

    The code keeps its syntax highlighting (a fenced block); outputs are drawn as in a widget's
    ``Output``.  The cell's id and metadata (tags included) are kept.
    """
    if cell.cell_type == "code":
        body = f"```python\n{cell.source}\n```\n\n{_outputs_html(cell.get('outputs', []))}"
    else:
        body = cell.source
    folded = nbformat.v4.new_markdown_cell(
        f"<details><summary>{html.escape(summary)}</summary>\n\n{body}\n\n</details>",
        metadata=copy.deepcopy(cell.metadata),
    )
    if "id" in cell:
        folded.id = cell.id
    return folded


def book_notebook(
    nb: nbformat.NotebookNode, chapters: set[str], page_suffix: str = ".html"
) -> nbformat.NotebookNode:
    """A copy of a stored chapter ready for the book: widgets drawn as HTML, chapter links to pages,
    solution and reveal cells folded into ``<details>`` blocks (:data:`COLLAPSED`).

    ``chapters`` are the slugs of the book's chapters; a Markdown link ``05_attention_masks.ipynb``
    to one of them becomes a link to its page, ``slug + page_suffix`` (the slides use
    ``.slides.html``).
    """
    nb = copy.deepcopy(nb)
    models = widget_state(nb)
    nb.metadata.pop("widgets", None)  # else nbconvert would add the CDN widget manager

    def page_link(match: re.Match[str]) -> str:
        slug, anchor = match.group(1), match.group(2) or ""
        return f"]({slug}{page_suffix}{anchor})" if slug in chapters else match.group(0)

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _CHAPTER_LINK.sub(page_link, cell.source)
        for out in cell.get("outputs", []):
            view = out.get("data", {}).pop(WIDGET_VIEW, None)
            if view is not None:
                note = "<p><small>Widget shown as saved; run the notebook to interact.</small></p>"
                out["data"] = {"text/html": note + widget_html(view["model_id"], models)}
    for index, cell in enumerate(nb.cells):
        summary = next((COLLAPSED[tag] for tag in cell.metadata.get("tags", []) if tag in COLLAPSED), None)
        if summary is not None:
            nb.cells[index] = collapsed_cell(cell, summary)
    return nb


def _index(course: Course) -> str:
    lines = [f"# {course.title}", "", course.description, "", f"*Paper:* {course.paper}", ""]
    total = sum(c.minutes for c in course.chapters)
    lines += [f"{len(course.chapters)} chapters, about {total / 60:.0f} hours self-paced.", ""]
    for part in course.parts:
        lines += [f"## {part.title}", ""]
        for c in part.chapters:
            lines.append(f"- [{c.number}. {c.title}](chapters/{c.file}) — {c.minutes} min")
            lines += [f"    - {goal}" for goal in c.goals]
        lines.append("")
    lines += ["## Library", "", "The [API reference](api/index.md) is generated from the docstrings."]
    return "\n".join(lines) + "\n"


def _write_sources(course: Course, docs: Path) -> list[Any]:
    """Write index, chapters and API pages under ``docs``; return the mkdocs navigation."""
    missing = [m for m in course.api_modules if importlib.util.find_spec(m) is None]
    if missing:
        raise CourseError(f"[build].api_modules lists module(s) that do not exist: {missing}")
    (docs / "chapters").mkdir(parents=True)
    (docs / "api").mkdir()
    (docs / "index.md").write_text(_index(course), encoding="utf-8")
    slugs = {c.slug for c in course.chapters}
    nav: list[Any] = [{"Home": "index.md"}]
    for part in course.parts:
        entries = []
        for c in part.chapters:
            nb = book_notebook(nbformat.read(course.path(c), as_version=4), slugs)
            nbformat.write(nb, docs / "chapters" / c.file)
            entries.append({f"{c.number}. {c.title}": f"chapters/{c.file}"})
        nav.append({part.title: entries})
    modules = [{"Overview": "api/index.md"}]
    listing = ["# API reference", "", "One module per concept of the paper.", ""]
    for module in course.api_modules:
        (docs / "api" / f"{module}.md").write_text(f"# `{module}`\n\n::: {module}\n", encoding="utf-8")
        modules.append({module: f"api/{module}.md"})
        listing.append(f"- [`{module}`]({module}.md)")
    (docs / "api" / "index.md").write_text("\n".join(listing) + "\n", encoding="utf-8")
    nav.append({"API reference": modules})
    return nav


def _config(course: Course, docs: Path, site: Path, nav: list[Any], overrides: Path) -> dict[str, Any]:
    return {
        "site_name": course.title,
        "site_description": course.description,
        "site_author": ", ".join(course.authors),
        "docs_dir": str(docs),
        "site_dir": str(site),
        "use_directory_urls": False,  # pages as .html files: the book also opens from disk
        "nav": nav,
        "theme": {
            "name": "material",
            "custom_dir": str(overrides),  # main.html: MathJax configured before it loads
            "font": False,  # no Google Fonts: the build and the book work offline
            "features": ["navigation.footer", "navigation.sections", "navigation.top", "toc.follow"],
        },
        "markdown_extensions": ["tables", "admonition", {"toc": {"permalink": True}}],
        "plugins": [
            "search",
            {
                "mkdocs-jupyter": {
                    "execute": False,  # the book shows the outputs stored by `make notebooks`
                    "include": ["*.ipynb"],
                    "include_source": True,
                    "cache": False,
                    "custom_mathjax_url": MATHJAX_URL,
                }
            },
            {
                "mkdocstrings": {
                    "handlers": {
                        "python": {
                            "paths": [str(REPO_ROOT)],  # where the vswin_edu package lives
                            "options": {
                                "show_submodules": True,
                                "show_source": False,
                                "heading_level": 2,
                                # docstrings document grouped arguments ("dhw, window_size: ...")
                                "docstring_options": {"warnings": False},
                            },
                        }
                    }
                }
            },
        ],
    }


def build_book(course: Course | None = None, output: str | Path | None = None) -> Path:
    """Build the HTML book into ``output`` (default ``[build].output_dir``); return its index.html."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    course = course or load_course()
    course.check_files()
    site = Path(output).resolve() if output is not None else course.output_dir
    with tempfile.TemporaryDirectory(prefix="vswin-book-") as tmp:
        docs = Path(tmp) / "docs"
        nav = _write_sources(course, docs)
        overrides = Path(tmp) / "overrides"
        overrides.mkdir()
        (overrides / "main.html").write_text(
            '{% extends "base.html" %}\n{% block extrahead %}{{ super() }}'
            + mathjax_preconfig()
            + "{% endblock %}\n",
            encoding="utf-8",
        )
        config = _config(course, docs, site, nav, overrides)
        config_file = Path(tmp) / "mkdocs.yml"
        config_file.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
        build(load_config(str(config_file)))
    copy_assets(site, (MATHJAX_DIR,))
    return site / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m vswin_edu.course.book", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", default=None, help="output folder (default: book.toml's [build].output_dir)"
    )
    args = parser.parse_args(argv)
    try:
        index = build_book(output=args.output)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"book written: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
