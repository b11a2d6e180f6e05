"""Set-up files agree: environment.yml installs this package from pyproject (no drifting second list)."""

from __future__ import annotations

import re
import tomllib

import yaml

from .conftest import REPO_ROOT


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_the_package_and_matches_python():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert any(re.fullmatch(r"-e \.(\[[a-z,]+\])?", line) for line in pip_section), "pip section must install this package"
    extras = set(_pyproject()["project"]["optional-dependencies"])
    for line in pip_section:
        m = re.fullmatch(r"-e \.\[([a-z,]+)\]", line)
        if m:
            assert set(m.group(1).split(",")) <= extras
    # any other pip line must be a dependency that pyproject.toml declares identically
    declared = set(_pyproject()["project"]["dependencies"])
    for line in pip_section:
        if not line.startswith("-e "):
            assert line in declared, f"environment.yml pins {line!r}, which pyproject.toml does not declare"
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    version = python.split("=")[-1]
    minimum = _pyproject()["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))


def test_torch_is_pinned_for_ci():
    assert "torch==2.13.0" in _pyproject()["project"]["dependencies"]


def test_makefile_and_ci_use_the_readme_commands():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make main" in readme and "make test" in readme
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
