"""Where run products live: ``outputs/`` (git-ignored) with ``cache/``, ``runs/``, ``tables/``, ``report/``.

The root is ``$LMREC_OUTPUTS`` when set (tests point it at a temporary folder; a relative path is taken from
the repository root, as the notebooks run in ``notebooks/``), else ``<repo>/outputs``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def outputs_root() -> Path:
    """The folder that holds every run product."""
    root = Path(os.environ.get("LMREC_OUTPUTS", REPO_ROOT / "outputs"))
    if not root.is_absolute():  # relative to the repository, not to the notebooks' working folder
        root = REPO_ROOT / root
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    """A folder under ``outputs/cache`` (created): content-keyed intermediates shared between notebooks."""
    path = outputs_root().joinpath("cache", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def stage_dir(method: str, stage: str, key: dict) -> Path:
    """The folder of one product handed from a notebook to the next (``outputs/cache/<method>/<stage>-<hash>``),
    named by the content hash of ``key``: every value the product depends on, upstream values included,
    so two runs that differ in any of them never share a folder. Not created here (a look-up leaves no
    empty folder); writers create it."""
    from .utils import stable_hash

    return outputs_root() / "cache" / method / f"{stage}-{stable_hash(key, 12)}"


def pointer_path(method: str, product: str, *lookup: object) -> Path:
    """The pointer file naming the latest complete ``product`` of ``method`` for one look-up (the values a later
    notebook knows, e.g. dataset, split, seed): ``outputs/cache/<method>/CURRENT-<product>-<values>-<hash>``.
    The values are spelled out for a reader; the hash of their exact text keeps two look-ups that differ only in
    characters a file name cannot hold (``rlmrec:a/b`` vs ``rlmrec:a_b``) apart."""
    from .utils import stable_hash

    values = [str(v) for v in lookup]
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join(values)).strip("_")
    return cache_dir(method) / f"CURRENT-{product}-{slug}-{stable_hash(values, 8)}"


def write_pointer(pointer: Path, target: Path) -> Path:
    """Point ``pointer`` (a small text file) at ``target``, atomically: how a notebook names its latest product
    for the next notebook's ``auto``/``current`` choice, moved only after the product is complete."""
    from .utils import atomic_path

    with atomic_path(pointer) as tmp:
        tmp.write_text(str(Path(target).resolve()) + "\n")
    return pointer


def read_pointer(pointer: Path, missing: str) -> Path:
    """The product ``pointer`` names; ``FileNotFoundError`` saying ``missing`` (what to run) when there is none."""
    if not pointer.exists():
        raise FileNotFoundError(f"{pointer}: {missing}")
    return Path(pointer.read_text().strip())


def runs_dir() -> Path:
    return outputs_root() / "runs"


def tables_dir() -> Path:
    return outputs_root() / "tables"


def report_dir() -> Path:
    return outputs_root() / "report"


def notebooks_dir() -> Path:
    return REPO_ROOT / "notebooks"


def params_dir() -> Path:
    return REPO_ROOT / "params"


def repo_path(path: str | os.PathLike) -> Path:
    """A relative path is taken from the repository root (notebooks run with ``notebooks/`` as their working
    directory, so ``../shared/data/x`` given on the command line means the same folder everywhere)."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p
