"""Course tooling: the chapter list, the HTML book and notebook hygiene (no paper concept here).

    manifest    book.toml: read and validate it, README's course map   python -m vswin_edu.course
    book        the stored chapters as a static HTML book              python -m vswin_edu.course.book
    notebooks   re-execute chapters, strip metadata, check hygiene     python -m vswin_edu.course.notebooks

The manifest's names are re-exported here.  :mod:`~vswin_edu.course.book` and
:mod:`~vswin_edu.course.notebooks` are imported by their own names: they need nbformat, nbclient
and mkdocs, which reading ``book.toml`` does not.
"""

from .manifest import (
    REPO_ROOT,
    Chapter,
    Course,
    CourseError,
    Part,
    course_map,
    load_course,
    main,
    sync_readme,
)

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
