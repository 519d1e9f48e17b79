"""The pip route (pyproject.toml) and the conda route (environment.yml) list the same packages."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda name where they differ


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_every_pyproject_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        pip_names |= {_name(r) for r in extra}
    env = (ROOT / "environment.yml").read_text()
    conda_names = {_name(m) for m in re.findall(r"^\s*-\s+([A-Za-z][\w.\-\[\]]*[^#\n]*)", env, re.M)}
    missing = sorted(n for n in pip_names if CONDA_NAMES.get(n, n) not in conda_names)
    assert not missing, f"environment.yml lacks {missing}"


def test_ci_runs_exactly_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make setup lab" in readme and "make setup book" in readme and "make test" in readme
    assert "make setup book" in ci.splitlines() and "make test" in ci.splitlines()
