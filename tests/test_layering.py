"""The import rules of docs/ARCHITECTURE.md, read off every module's source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vswin_edu"

MODEL_SIDE = {
    "config", "patch", "windows", "shift", "relpos", "geometry", "attention", "fast", "block", "merging",
    "model", "_checks",
}  # fmt: skip
AROUND = {
    "reference", "complexity", "convert", "data", "train", "bench", "viz", "widgets", "exercises", "style",
    "course", "grade", "capstone", "audit", "transforms", "weights", "predict",
}  # fmt: skip
COURSE_TOOLING = {"course", "grade"}  # the chapters' tooling and classroom grading: nothing imports them
CONCEPTS = {"patch", "windows", "shift", "relpos"}
# the one lazy import the rules allow: builders keep torchvision's `weights=` signature
ALLOWED = {("vswin_edu.model", "vswin_edu.convert")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> list[tuple[str, bool]]:
    """``(imported vswin_edu module, at module level?)`` for every import statement of ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    package = name if _is_package(path) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from . import fast` imports the submodule vswin_edu.fast
            targets = [
                f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target.startswith("vswin_edu"):
                found.append((target, id(node) in top_level))
    return found


def _group(module: str) -> str:
    """The top-level group of a module: ``vswin_edu.fast.groups`` -> ``fast``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _arrows():
    for name in MODULES:
        for target, top in _imports(name):
            yield name, target, top


def _violations(rule) -> list[str]:
    return sorted(
        f"{name} -> {target}{'' if top else ' (lazy)'}"
        for name, target, top in _arrows()
        if rule(name, target) and (name, _top_module(target)) not in ALLOWED
    )


def _top_module(target: str) -> str:
    return ".".join(target.split(".")[:2])


def test_every_module_is_found():
    for name in ("vswin_edu.block", "vswin_edu.fast.kernels", "vswin_edu.viz.masks", "vswin_edu.course"):
        assert name in MODULES, name
    assert ("vswin_edu.fast", True) in _imports("vswin_edu.block")  # `from . import fast as ...`


def test_the_model_side_never_imports_the_layers_around_it():
    def rule(name, target):
        return _group(name) in MODEL_SIDE and _group(target) in AROUND

    assert _violations(rule) == []


def test_the_allowed_lazy_import_is_really_lazy():
    assert ("vswin_edu.convert", False) in _imports("vswin_edu.model")
    assert ("vswin_edu.convert", True) not in _imports("vswin_edu.model")


def test_concept_modules_are_leaves():
    def rule(name, target):
        return _group(name) in CONCEPTS and _group(target) not in CONCEPTS | {"_checks"}

    assert _violations(rule) == []


def test_the_readable_path_does_not_depend_on_the_fast_one():
    def rule(name, target):
        if _group(target) == "fast":
            return _group(name) not in {"fast", "block", "model", "export"}
        return _group(name) == "fast" and _group(target) not in CONCEPTS | {"_checks", "attention", "fast"}

    assert _violations(rule) == []


DRAW_NOTHING = [
    "train", "bench", "convert", "data", "grade", "capstone", "export", "audit", "transforms", "weights",
    "predict",
]  # fmt: skip


@pytest.mark.parametrize("group", DRAW_NOTHING)
def test_training_benchmarks_and_data_draw_nothing(group):
    def rule(name, target):
        # the training CLI writes curves.png after fit(), the audit CLI its --png summary
        cli = name in {"vswin_edu.train.__main__", "vswin_edu.audit.__main__"}
        return _group(name) == group and _group(target) in {"viz", "widgets"} and not cli

    assert _violations(rule) == []


def test_figures_are_pure_and_only_widgets_import_ipywidgets():
    def rule(name, target):
        return _group(name) in {"viz", "exercises"} and _group(target) == "widgets"

    assert _violations(rule) == []
    assert _violations(lambda n, t: _group(n) == "exercises" and _group(t) == "viz") == []
    for name, path in MODULES.items():
        if _group(name) != "widgets":
            assert "ipywidgets" not in _third_party(path), f"{name} imports ipywidgets"


def test_widgets_import_no_private_viz_names():
    for name, path in MODULES.items():
        if _group(name) != "widgets":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and "viz" in (node.module or ""):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert "._" not in "." + node.module and not private, (
                    f"{name}: from {node.module} import {private}"
                )


def _third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add((node.module or "").split(".")[0])
    return names


def test_nothing_imports_the_course_tooling():
    assert _violations(lambda n, t: _group(t) in COURSE_TOOLING and _group(n) not in COURSE_TOOLING) == []


def test_no_cycles_among_module_level_imports():
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, target, top in _arrows():
        if top and target in MODULES and target != name:
            graph[name].add(target)
    # a package's __init__ is imported before its submodules, so a submodule importing its own
    # package (e.g. `from . import x` resolving to the __init__) is not an arrow back
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
