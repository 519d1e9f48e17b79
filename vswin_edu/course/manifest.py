"""The course manifest ``book.toml``: read it, validate it, and render README's course map.

``book.toml`` is the one list of chapters.  The HTML book (:mod:`vswin_edu.course.book`), notebook
re-execution (:mod:`vswin_edu.course.notebooks`), README's course map and the tests all read it
here, so a chapter is added in one place.  Validation is strict: unknown keys, a chapter file
outside ``notebooks/``, a missing notebook or a notebook that is not listed are errors that name
the culprit.

Command line (``vswin_edu/course/__main__.py``)::

    python -m vswin_edu.course            # validate book.toml and print the course map
    python -m vswin_edu.course --readme   # rewrite README's course map between its markers
    python -m vswin_edu.course --check    # exit 1 if README's course map is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "REPO_ROOT",
    "Chapter",
    "Course",
    "CourseError",
    "Part",
    "course_map",
    "load_course",
    "main",
    "sync_readme",
]

REPO_ROOT = Path(__file__).resolve().parents[2]  # vswin_edu/course/manifest.py -> the repository
MAP_START, MAP_END = "<!-- course-map:start -->", "<!-- course-map:end -->"
# A chapter is a bare file name NN_slug.ipynb: the number orders it, the slug names its page.
_CHAPTER_FILE = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
_KEYS = {
    "top": ({"book", "build", "parts"}, set()),
    "book": ({"title", "authors"}, {"description", "paper"}),
    "build": ({"notebooks_dir", "output_dir"}, {"timeout", "kernel", "api_modules"}),
    "part": ({"title", "chapters"}, set()),
    "chapter": ({"file", "title", "minutes", "goals"}, set()),
}


class CourseError(ValueError):
    """``book.toml`` is malformed or disagrees with the notebooks on disk."""


@dataclass(frozen=True)
class Chapter:
    """One notebook of the course, as listed in ``book.toml``."""

    file: str  # "05_attention_masks.ipynb", a file name inside the notebooks directory
    title: str
    minutes: int  # estimated self-paced time, exercises included
    goals: tuple[str, ...]  # learning goals, one sentence each
    part: str  # title of the part the chapter belongs to

    @property
    def number(self) -> int:
        return int(self.file[:2])

    @property
    def slug(self) -> str:
        """The file name without ``.ipynb``: ``"05_attention_masks"``."""
        return self.file.removesuffix(".ipynb")


@dataclass(frozen=True)
class Part:
    title: str
    chapters: tuple[Chapter, ...]


@dataclass(frozen=True)
class Course:
    """The validated manifest.  Paths are absolute, resolved against the folder of ``book.toml``."""

    title: str
    authors: tuple[str, ...]
    description: str
    paper: str
    parts: tuple[Part, ...]
    root: Path  # the folder holding book.toml (the repository root)
    notebooks_dir: Path
    output_dir: Path
    timeout: int  # seconds one chapter may run when re-executed
    kernel: str  # kernelspec name every stored notebook carries
    api_modules: tuple[str, ...]

    @property
    def chapters(self) -> list[Chapter]:
        """Every chapter in reading order."""
        return [chapter for part in self.parts for chapter in part.chapters]

    def path(self, chapter: Chapter) -> Path:
        return self.notebooks_dir / chapter.file

    def missing(self) -> list[Chapter]:
        """Chapters listed in book.toml whose notebook does not exist."""
        return [c for c in self.chapters if not self.path(c).is_file()]

    def unlisted(self) -> list[Path]:
        """Notebooks in the notebooks directory that book.toml does not list."""
        listed = {c.file for c in self.chapters}
        return sorted(p for p in self.notebooks_dir.glob("*.ipynb") if p.name not in listed)

    def check_files(self) -> None:
        """Raise :class:`CourseError` unless book.toml and ``notebooks/`` list the same chapters."""
        problems = [
            f"chapter {c.file!r} ({c.title}) is listed in book.toml but {self.path(c)} does not exist"
            for c in self.missing()
        ]
        problems += [f"notebook {p.name!r} is in notebooks/ but not in book.toml" for p in self.unlisted()]
        if problems:
            raise CourseError("book.toml and the notebooks disagree:\n  " + "\n  ".join(problems))


def _table(data: Any, where: str, kind: str) -> dict[str, Any]:
    """Check a TOML table has its required keys and no unknown ones."""
    if not isinstance(data, dict):
        raise CourseError(f"{where}: expected a table, got {type(data).__name__}")
    required, optional = _KEYS[kind]
    if missing := required - data.keys():
        raise CourseError(f"{where}: missing key(s) {sorted(missing)}")
    if unknown := data.keys() - required - optional:
        allowed = sorted(required | optional)
        raise CourseError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {allowed}")
    return data


def _typed(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and not value.strip()):
        raise CourseError(f"{where}: expected a non-empty {kind.__name__}, got {value!r}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise CourseError(f"{where}: expected a non-empty list of strings, got {value!r}")
    return tuple(_typed(v, str, f"{where}[{i}]") for i, v in enumerate(value))


def _chapter(data: Any, where: str, part: str) -> Chapter:
    data = _table(data, where, "chapter")
    file = _typed(data["file"], str, f"{where}.file")
    if not _CHAPTER_FILE.match(file):
        raise CourseError(
            f"{where}.file: {file!r} is not a chapter of notebooks/; expected a bare file name "
            "'NN_slug.ipynb' (two digits, lower-case slug), no folders"
        )
    minutes = _typed(data["minutes"], int, f"{where}.minutes")
    if minutes <= 0:
        raise CourseError(f"{where}.minutes: expected a positive number of minutes, got {minutes}")
    return Chapter(
        file=file,
        title=_typed(data["title"], str, f"{where}.title"),
        minutes=minutes,
        goals=_strings(data["goals"], f"{where}.goals"),
        part=part,
    )


def load_course(path: str | Path | None = None, *, require_files: bool = True) -> Course:
    """Read and validate ``book.toml`` (default: the repository's).

    With ``require_files`` (the default) every listed chapter must exist in the notebooks
    directory and every notebook there must be listed; otherwise only the manifest is checked.
    Raises :class:`CourseError` naming the key, chapter or file at fault.
    """
    path = Path(path) if path is not None else REPO_ROOT / "book.toml"
    if not path.is_file():
        raise CourseError(f"course manifest {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise CourseError(f"{path}: not valid TOML: {err}") from err
    data = _table(data, path.name, "top")
    book = _table(data["book"], "[book]", "book")
    build = _table(data["build"], "[build]", "build")
    if not isinstance(data["parts"], list) or not data["parts"]:
        raise CourseError("[[parts]]: expected at least one part")
    parts = []
    for i, raw in enumerate(data["parts"]):
        raw = _table(raw, f"parts[{i}]", "part")
        title = _typed(raw["title"], str, f"parts[{i}].title")
        if not isinstance(raw["chapters"], list) or not raw["chapters"]:
            raise CourseError(f"parts[{i}] ({title}): expected at least one [[parts.chapters]]")
        chapters = [_chapter(c, f"parts[{i}].chapters[{j}]", title) for j, c in enumerate(raw["chapters"])]
        parts.append(Part(title=title, chapters=tuple(chapters)))
    numbers = [c.number for p in parts for c in p.chapters]
    if numbers != sorted(set(numbers)):
        raise CourseError(f"chapter numbers must be unique and in reading order, got {numbers}")
    root = path.resolve().parent
    course = Course(
        title=_typed(book["title"], str, "[book].title"),
        authors=_strings(book["authors"], "[book].authors"),
        description=_typed(book.get("description", book["title"]), str, "[book].description"),
        paper=_typed(book.get("paper", "Video Swin Transformer, CVPR 2022"), str, "[book].paper"),
        parts=tuple(parts),
        root=root,
        notebooks_dir=root / _typed(build["notebooks_dir"], str, "[build].notebooks_dir"),
        output_dir=root / _typed(build["output_dir"], str, "[build].output_dir"),
        timeout=_typed(build.get("timeout", 300), int, "[build].timeout"),
        kernel=_typed(build.get("kernel", "python3"), str, "[build].kernel"),
        api_modules=_strings(build.get("api_modules", ["vswin_edu"]), "[build].api_modules"),
    )
    if require_files:
        course.check_files()
    return course


def course_map(course: Course) -> str:
    """README's course map in Markdown: one table per part, linking the notebooks."""
    folder = course.notebooks_dir.relative_to(course.root).as_posix()
    lines = []
    for part in course.parts:
        lines += [f"**{part.title}**", "", "| # | chapter | you will be able to | min |", "|---|---|---|---|"]
        for c in part.chapters:
            goals = "; ".join(g[0].lower() + g[1:] for g in c.goals)
            lines.append(f"| {c.number} | [{c.title}]({folder}/{c.file}) | {goals} | {c.minutes} |")
        lines.append("")
    total = sum(c.minutes for c in course.chapters)
    lines.append(f"{len(course.chapters)} chapters, about {total / 60:.0f} hours self-paced.")
    return "\n".join(lines)


def sync_readme(course: Course, readme: str | Path | None = None, *, check: bool = False) -> bool:
    """Put :func:`course_map` between README's course-map markers; return True if it was stale.

    With ``check=True`` nothing is written.  Only the text between the markers is touched.
    """
    readme = Path(readme) if readme is not None else course.root / "README.md"
    text = readme.read_text(encoding="utf-8")
    if text.count(MAP_START) != 1 or text.count(MAP_END) != 1 or text.index(MAP_START) > text.index(MAP_END):
        raise CourseError(f"{readme}: expected one {MAP_START} followed by one {MAP_END}")
    head, rest = text.split(MAP_START)
    _, tail = rest.split(MAP_END)
    new = f"{head}{MAP_START}\n{course_map(course)}\n{MAP_END}{tail}"
    if new != text and not check:
        readme.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    """``python -m vswin_edu.course``: validate book.toml, print or sync README's course map."""
    parser = argparse.ArgumentParser(prog="python -m vswin_edu.course", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=None, help="path to book.toml (default: the repository's)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--readme", action="store_true", help="rewrite README's course map")
    action.add_argument("--check", action="store_true", help="exit 1 if README's course map is stale")
    args = parser.parse_args(argv)
    try:
        # The map comes from book.toml alone; plain validation also checks the notebooks on disk.
        course = load_course(args.manifest, require_files=not (args.readme or args.check))
        if args.readme or args.check:
            stale = sync_readme(course, check=args.check)
            verb = "is out of date; run python -m vswin_edu.course --readme" if args.check else "rewritten"
            print(f"README course map {verb if stale else 'is up to date'}")
            return int(stale and args.check)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(course_map(course))
    return 0
