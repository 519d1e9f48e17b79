"""Thin ipywidgets 8 wrappers over :mod:`vswin_edu.viz` (the only package that imports ipywidgets).

Each widget object exposes ``.controls`` (name -> ipywidget), ``.state`` (a plain dict of the
current values and results), ``.figure`` (the last matplotlib Figure drawn) and ``.widget`` (the
container to display).  Callbacks re-raise errors when ``strict=True`` (the default in tests), so
a broken callback fails a test instead of being swallowed by ipywidgets.

Every public name of the submodules (their ``__all__``) is re-exported here, so
``from vswin_edu.widgets import X`` works whichever submodule defines ``X``.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in getattr(_module, "__all__", ()):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
