"""The one home of every hyperparameter default: a notebook's ``parameters`` cell.

Library code that runs a method outside its notebook (bench scripts, a notebook that trains another method's
model as a component, tests) takes its defaults from that cell through :func:`notebook_defaults`, so a default
is written once and cannot disagree with what the notebook runs.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from .paths import notebooks_dir


def literal_defaults(path: Path) -> dict[str, Any]:
    """The ``parameters`` cell's defaults as Python values (names whose default is not a literal are left out).

    Reads the notebook as plain JSON (nbformat v4), not through nbformat: bench scripts call this on machines
    that carry only the training dependencies (the GPU machines have no Jupyter stack)."""
    nb = json.loads(Path(path).read_text())
    cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    source = cells[0]["source"] if cells else ""
    out: dict[str, Any] = {}
    for node in ast.parse("".join(source) if isinstance(source, list) else source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def notebook_defaults(notebook: str) -> dict[str, Any]:
    """The defaults of ``notebooks/<notebook>.ipynb`` (e.g. ``11_lightgcn``), without the runner's ``RUN_DIR``."""
    path = notebooks_dir() / f"{notebook}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such notebook; the defaults of a method live in its notebook's "
                                "parameters cell (name it as NN_name, e.g. 11_lightgcn)")
    return {k: v for k, v in literal_defaults(path).items() if k != "RUN_DIR"}
