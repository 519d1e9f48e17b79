"""Pure drawing functions: plain arguments in, a matplotlib ``Figure`` out (chapters 0-13).

No global state, no ipywidgets: every function can be tested without a kernel, and
:mod:`vswin_edu.widgets` only wires controls to them.  Colours come from :mod:`vswin_edu.style`
so that a window or region id has the same colour in every chapter.

Every public name of the submodules (their ``__all__``) is re-exported here, so
``from vswin_edu.viz import X`` works whichever submodule defines ``X``.
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
