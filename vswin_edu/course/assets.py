"""The JavaScript the offline book and slides load, copied from installed packages (nothing fetched).

- reveal.js (slides): the copy ``sphinx-revealjs`` vendors, ``reveal.js/dist`` and its notes plugin;
- MathJax 2 (book and slides): ``jupyter-server-mathjax``'s copy, one combined configuration
  (TeX in, HTML-CSS out) and one web font, STIX-Web, which :data:`MATHJAX_SETTINGS` selects (the
  TeX fonts MathJax would look for first are not shipped).

Both packages are in the ``dev`` extra (``make setup``).  :func:`copy_assets` puts the files beside
the pages that use them, so a built folder opens from disk with the network off.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from .manifest import CourseError

__all__ = [
    "MATHJAX_CONFIG",
    "MATHJAX_DIR",
    "MATHJAX_SETTINGS",
    "REVEAL_DIR",
    "copy_assets",
    "mathjax_preconfig",
]

REVEAL_DIR = "reveal.js"  # <folder>/reveal.js/dist/reveal.js, <folder>/reveal.js/plugin/notes/notes.js
MATHJAX_DIR = "mathjax"  # <folder>/mathjax/MathJax.js
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # the combined configuration the package ships
MATHJAX_SETTINGS = {
    "tex2jax": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
    },
    "HTML-CSS": {
        "availableFonts": ["STIX-Web"],
        "preferredFont": "STIX-Web",
        "webFont": "STIX-Web",
        "imageFont": None,
    },
    "displayAlign": "center",
    "messageStyle": "none",
}
_SOURCES = {
    REVEAL_DIR: ("sphinx_revealjs", "_static", "revealjs"),
    MATHJAX_DIR: ("jupyter_server_mathjax", "static"),
}
_SKIP = {REVEAL_DIR: shutil.ignore_patterns("*.esm.js", "*.map", "*.scss", "speaker-view.html")}


def mathjax_preconfig() -> str:
    """A ``<script>`` that configures MathJax 2 before ``MathJax.js`` loads (``window.MathJax``)."""
    return f"<script>window.MathJax = {json.dumps(MATHJAX_SETTINGS)};</script>"


def vendored_assets() -> dict[str, Path]:
    """Where the installed packages keep the reveal.js and MathJax files."""
    found = {}
    for name, (package, *parts) in _SOURCES.items():
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise CourseError(f"the offline book and slides need the package {package!r}: make setup")
        found[name] = Path(spec.origin).parent.joinpath(*parts)
    return found


def copy_assets(output: Path, names: tuple[str, ...] = (REVEAL_DIR, MATHJAX_DIR)) -> None:
    """Copy the named assets into ``output`` (kept if already there)."""
    sources = vendored_assets()
    for name in names:
        target = output / name
        if not target.exists():
            shutil.copytree(sources[name], target, ignore=_SKIP.get(name))
