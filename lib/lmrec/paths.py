"""Where run products live: ``outputs/`` (git-ignored) with ``cache/``, ``runs/``, ``tables/``, ``report/``, and
how a notebook hands its product on to the next (:func:`hand_on`, :func:`take_over`: the product travels with the
parameters of the run that made it, so the next notebook restates none of them).

The root is ``$LMREC_OUTPUTS`` when set (tests point it at a temporary folder; a relative path is taken from
the repository root, as the notebooks run in ``notebooks/``), else ``<repo>/outputs``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


HANDOFF_RECORD = "handoff.json"  # beside a handed-on product, and in the run folder that made it
AUTO = ("auto", "current", "")       # a downstream source value meaning "the product the pointer names"


@dataclass(frozen=True)
class Handoff:
    """A product one notebook hands on to the next (:func:`hand_on`, :func:`take_over`): the product (file or
    folder), the notebook that made it and every parameter of that run, so the next notebook restates none."""

    product: Path
    notebook: str
    params: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.product if self.product.is_dir() else self.product.parent

    def __getitem__(self, name: str) -> Any:
        if name not in self.params:
            raise KeyError(f"{self.folder / HANDOFF_RECORD}: the {self.notebook or 'upstream'} run recorded no "
                           f"parameter {name!r}; run {self.notebook or 'the upstream notebook'} again to record it")
        return self.params[name]


class HandoffMismatch(ValueError):
    """The product a downstream notebook was given was made with other values than it asks for."""


def _record_file(product: Path) -> Path:
    return (product if product.is_dir() else product.parent) / HANDOFF_RECORD


def hand_on(pointer: Path, product: Path, notebook: str, params: dict[str, Any], run_dir: Path | None = None) -> Path:
    """Hand a complete ``product`` on to the next notebook: record the parameters of the run that made it
    (``handoff.json`` beside the product, and in ``run_dir``, naming the product), then move ``pointer`` to it.
    The next notebook takes everything it needs from that record (:func:`take_over`). Returns the pointer."""
    from .utils import write_json

    product = Path(product).resolve()
    if not product.exists():
        raise FileNotFoundError(f"{product}: nothing to hand on; write the product before handing it on")
    record = {"notebook": notebook, "product": str(product), "params": params}
    write_json(_record_file(product), record)
    if run_dir is not None:
        write_json(Path(run_dir) / HANDOFF_RECORD, record)
    return write_pointer(pointer, product)


def read_handoff(path: Path) -> Handoff:
    """The product at ``path`` (a product file or folder, or the run folder of the notebook that made it) with
    its recorded parameters (``{}`` when it has no record: made before records were kept, or from elsewhere)."""
    path = repo_path(path)
    record_file = _record_file(path)
    if not record_file.exists():
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such product or run folder")
        return Handoff(path, "", {})
    record = json.loads(record_file.read_text())
    product = Path(record.get("product") or path)
    if not product.exists():  # the outputs folder was moved or copied: the record sits beside the product it names
        product = next((here for here in (path, record_file.parent) if here.exists() and here.name == product.name),
                       product)
    if not product.exists():
        raise FileNotFoundError(f"{record_file}: the product it names, {product}, is gone; run "
                                f"{record.get('notebook') or 'the upstream notebook'} again")
    return Handoff(product, record.get("notebook", ""), record.get("params") or {})


def differences(recorded: dict[str, Any], requested: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{name: (requested, recorded)}`` for each requested value the record holds with another value (values
    compared as JSON, so a tuple equals a list and 4 equals 4.0)."""
    def plain(value: Any) -> Any:
        return json.loads(json.dumps(value))

    return {k: (v, recorded[k]) for k, v in requested.items() if k in recorded and plain(v) != plain(recorded[k])}


def take_over(source: str | os.PathLike, pointer: Path, missing: str,
              requested: dict[str, Any] | None = None) -> Handoff:
    """The product a downstream notebook starts from, with the parameters the upstream run recorded.

    ``source``: ``auto`` (or ``current``, ``""``) takes the product ``pointer`` names (the latest complete one for
    this look-up; ``FileNotFoundError`` saying ``missing``, plus the values of the products found under other
    look-ups); anything else is a product or the upstream's run folder. ``requested``: values this notebook states
    that the upstream run had too (e.g. ``SEED``); one the record holds with another value raises
    :class:`HandoffMismatch` naming every such value."""
    if str(source) in AUTO:
        if not pointer.exists():
            raise FileNotFoundError(f"{pointer}: {missing}{_others(pointer, requested or {})}")
        handoff = read_handoff(read_pointer(pointer, missing))
    else:
        handoff = read_handoff(Path(source))
    diff = differences(handoff.params, requested or {})
    if diff:
        made = handoff.notebook or "the upstream notebook"
        listed = "; ".join(f"{k}: this run {a!r}, {made} ran with {b!r}" for k, (a, b) in diff.items())
        raise HandoffMismatch(f"{handoff.folder / HANDOFF_RECORD}: {listed}. Run {made} with the values this run "
                              "asks for, or give this run the recorded ones")
    return handoff


def _others(pointer: Path, requested: dict[str, Any]) -> str:
    """What products of the same kind exist under other look-ups, and how their values differ (for errors)."""
    product = pointer.name.split("-")[1] if pointer.name.count("-") >= 2 else ""
    found = []
    for other in sorted(pointer.parent.glob(f"CURRENT-{product}-*")):
        try:
            handoff = read_handoff(Path(other.read_text().strip()))
        except (OSError, ValueError):
            continue
        diff = differences(handoff.params, requested)
        found.append(", ".join(f"{k}={b!r}" for k, (_, b) in diff.items()) or str(handoff.product))
    return f" (found under other values: {'; '.join(found[:5])})" if found else ""


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
