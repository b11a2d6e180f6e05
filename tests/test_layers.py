"""Methods build on the generic packages, never the reverse: every ``lmrec`` import in lib/lmrec (at module level
or inside a function) follows the layer order that CONTRIBUTING.md states ("Which package may import which")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

LIB = REPO_ROOT / "lib" / "lmrec"
SECTION = "## Which package may import which"


def layer_order(text: str) -> dict[str, int]:
    """Package -> layer number from the numbered list of CONTRIBUTING.md's section (one line per layer,
    the packages of a layer in backticks; ``lmrec`` names the package root)."""
    if SECTION not in text:
        raise AssertionError(f"CONTRIBUTING.md lacks the section {SECTION!r} that states the layer order")
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    order: dict[str, int] = {}
    for line in body.splitlines():
        m = re.match(r"\s*(\d+)\.\s", line)
        if not m:
            continue
        for name in re.findall(r"`([\w.]+)`", line.split(":", 1)[0] if ":" in line else line):
            if name in order:
                raise AssertionError(f"CONTRIBUTING.md places {name!r} in layers {order[name]} and {m.group(1)}")
            order[name] = int(m.group(1))
    return order


def package_of(module: str) -> str:
    """``lmrec.cf.notebook`` -> ``cf``; ``lmrec.utils`` -> ``utils``; ``lmrec`` -> ``lmrec`` (the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "lmrec"


def lmrec_imports(path: Path, lib: Path = LIB) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import of an ``lmrec`` module in one file; ``from . import x`` and
    ``from lmrec import x`` count as importing the submodule ``x`` when it is one, else the package itself."""
    rel = path.relative_to(lib.parent).with_suffix("")
    here = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "lmrec"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "lmrec":
                continue
            folder = lib.parent.joinpath(*module.split("."))
            for a in node.names:
                sub = folder / a.name
                is_module = sub.is_dir() or sub.with_suffix(".py").is_file()
                out.append((node.lineno, f"{module}.{a.name}" if is_module else module))
    return out


def violations(lib: Path, order: dict[str, int]) -> list[str]:
    """Every import against the order: into a package of the same or a later layer (its own package aside)."""
    bad = []
    for path in sorted(lib.rglob("*.py")):
        rel = path.relative_to(lib.parent).with_suffix("")
        mine = package_of(".".join(p for p in rel.parts if p != "__init__"))
        if mine not in order:
            bad.append(f"{path.relative_to(lib.parent)}: package {mine!r} has no layer in CONTRIBUTING.md")
            continue
        for line, module in lmrec_imports(path, lib):
            theirs = package_of(module)
            if theirs == mine:
                continue
            if theirs not in order:
                bad.append(f"{path.relative_to(lib.parent)}:{line} imports {module}, whose package has no layer")
            elif order[theirs] >= order[mine]:
                bad.append(f"{path.relative_to(lib.parent)}:{line}: {mine} (layer {order[mine]}) imports {module} "
                           f"({theirs}, layer {order[theirs]}); a package may import only from earlier layers")
    return bad


def test_contributing_places_every_package_once():
    order = layer_order((REPO_ROOT / "CONTRIBUTING.md").read_text())
    packages = {p.name if p.is_dir() else p.stem for p in LIB.iterdir()
                if (p.is_dir() and (p / "__init__.py").is_file()) or (p.suffix == ".py" and p.name != "__init__.py")}
    assert packages - set(order) == set(), "these lib/lmrec packages need a line in CONTRIBUTING.md's layer list"


def test_no_import_runs_against_the_layer_order():
    order = layer_order((REPO_ROOT / "CONTRIBUTING.md").read_text())
    assert violations(LIB, order) == []


@pytest.mark.parametrize("planted, expected", [
    ("from ..rlmrec.embeddings import coverage_text\n", "cf (layer 2) imports lmrec.rlmrec.embeddings"),
    ("def f():\n    from lmrec.seqrec import data\n", "cf (layer 2) imports lmrec.seqrec ("),
    ("from .. import llmrec\n", "imports lmrec.llmrec"),
    ("import lmrec.run.plan\n", "imports lmrec.run.plan"),
])
def test_an_upward_or_sideways_import_is_found(tmp_path, planted, expected):
    """A copy of a small tree with one planted import against the order, at module level or in a function."""
    lib = tmp_path / "lmrec"
    for pkg in ("cf", "rlmrec", "seqrec", "llmrec", "run", "data"):
        (lib / pkg).mkdir(parents=True)
        (lib / pkg / "__init__.py").write_text("")
    (lib / "__init__.py").write_text("")
    (lib / "cf" / "model.py").write_text("from ..data import load\nfrom . import graph\n")
    order = {"lmrec": 4, "data": 1, "cf": 2, "seqrec": 2, "rlmrec": 3, "llmrec": 3, "run": 4}
    assert violations(lib, order) == []
    (lib / "cf" / "model.py").write_text("from ..data import load\n" + planted)
    found = violations(lib, order)
    assert len(found) == 1 and expected in found[0] and "cf/model.py" in found[0]
