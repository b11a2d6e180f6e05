"""The reproduction table: each reference number (``references.yaml``: a paper's table or a run of the authors'
code, with its split and source) beside this repository's runs of the same row and metric on the same split, and
their ratio. Built from the runs' ``metrics.json`` like every other table; a reference without a matching run
shows an empty ``lmrec`` cell, never a number from another split.

Optional fields of a reference: ``where`` (parameters a matching run must have, e.g. ``{MASK_HISTORY: false}``
for the protocol of the published number), ``result`` (a benchmark record under the repository root,
``{"rows": {row: {"metrics", "seeds", "status"}}}``, read when no run matches: rows a benchmark script
trained rather than a notebook), ``needs`` (why this repository cannot run the row, shown instead of
"no run yet")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..paths import REPO_ROOT
from .plan import parse_yaml

REFERENCES = Path(__file__).with_name("references.yaml")
FIELDS = ("paper", "table", "dataset", "row", "metric", "value", "kind", "source")
OPTIONAL = ("where", "result", "needs")
KINDS = ("published", "released-code")


@dataclass(frozen=True)
class Reference:
    paper: str
    table: str
    dataset: tuple[str, ...]  # '<format>:<folder name>' of the runs' DATASET (copies of one split), or ml100k
    row: str
    metric: str
    value: float
    kind: str
    source: str
    where: tuple[tuple[str, Any], ...] = ()  # (name, value) pairs a matching run's parameters must hold
    result: str = ""                         # benchmark record (repository-relative JSON) used when no run matches
    needs: str = ""                          # why no run can exist here (inputs that are not public)


def load_references(path: Path = REFERENCES) -> list[Reference]:
    """Every entry of ``path``; a missing field, an unknown kind or a non-numeric value is refused by name."""
    entries = parse_yaml(Path(path).read_text()) or []
    out = []
    for i, entry in enumerate(entries):
        missing = [f for f in FIELDS if f not in (entry or {})]
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {missing}; each entry needs {list(FIELDS)}")
        if entry["kind"] not in KINDS:
            raise ValueError(f"{path}: entry {i} has kind {entry['kind']!r}; use one of {KINDS}")
        if not isinstance(entry["value"], (int, float)) or isinstance(entry["value"], bool):
            raise ValueError(f"{path}: entry {i} value {entry['value']!r} is not a number")
        unknown = sorted(set(entry) - set(FIELDS) - set(OPTIONAL))
        if unknown:
            raise ValueError(f"{path}: entry {i} has unknown fields {unknown}; allowed: {list(FIELDS + OPTIONAL)}")
        where = entry.get("where") or {}
        if not isinstance(where, dict):
            raise ValueError(f"{path}: entry {i} where={where!r} must map parameter names to values")
        names = entry["dataset"] if isinstance(entry["dataset"], list) else [entry["dataset"]]
        out.append(Reference(**{f: entry[f] for f in FIELDS if f != "dataset"}, dataset=tuple(str(n) for n in names),
                             where=tuple(sorted(where.items())), result=str(entry.get("result") or ""),
                             needs=str(entry.get("needs") or "")))
    return out


def dataset_name(dataset: Any) -> str:
    """``rlmrec:../shared/data/rlmrec_yelp`` -> ``rlmrec:rlmrec_yelp`` (format and folder name, wherever the folder
    lies); a built-in name (``ml100k``) stays as it is."""
    text = str(dataset or "")
    if ":" not in text:
        return text
    fmt, folder = text.split(":", 1)
    return f"{fmt}:{Path(folder.rstrip('/')).name or folder}"


CAPPED = ("capped", "epoch_limit")


def _matches(params: dict, ref: Reference) -> bool:
    return dataset_name(params.get("DATASET")) in ref.dataset and all(params.get(k) == v for k, v in ref.where)


def read_result(ref: Reference, root: Path | None = None) -> tuple[float | None, int, bool, str]:
    """``(value, seeds, capped, path)`` of ``ref``'s row and metric in its benchmark record (None when the record,
    the row or the metric is absent); a record that is not JSON of the documented shape is refused by name."""
    if not ref.result:
        return None, 0, False, ""
    path = (root or REPO_ROOT) / ref.result
    if not path.exists():
        return None, 0, False, ""
    try:
        rows = json.loads(path.read_text())["rows"]
        row = rows.get(ref.row) or {}
        value = row.get("metrics", {}).get(ref.metric)
    except (ValueError, KeyError, AttributeError, TypeError) as err:
        raise ValueError(f"{path}: not a benchmark record ({err!r}); expected "
                         '{"rows": {"<row>": {"metrics": {...}, "seeds": n, "status": "..."}}}') from err
    if value is None:
        return None, 0, False, ""
    return float(value), int(row.get("seeds", 1)), row.get("status") in CAPPED, ref.result


def reproduction_table(runs: pd.DataFrame, references: list[Reference] | None = None,
                       root: Path | None = None) -> pd.DataFrame:
    """One line per reference: reference value, kind and source; the mean over the matching runs' seeds
    (``lmrec``), their number, whether any was capped, the ratio lmrec / reference and the run folders. Without
    a matching run, the reference's benchmark record (``result``, under ``root``) fills the line if it has it."""
    references = load_references() if references is None else references
    lines = []
    for ref in references:
        match = runs[(runs["table"] == ref.table) & (runs["row"] == ref.row)] if len(runs) else runs
        match = match[[_matches(p, ref) for p in match["params"]]] if len(match) else match
        values = [m[ref.metric] for m in match["metrics"] if ref.metric in m] if len(match) else []
        mean = sum(values) / len(values) if values else None
        seeds, folders = len(values), " ".join(match["folder"]) if len(match) else ""
        capped = bool(len(match)) and any(s in CAPPED for s in match["status"])
        if mean is None:
            mean, seeds, capped, folders = read_result(ref, root)
        lines.append({"paper": ref.paper, "dataset": ref.dataset[0], "method": ref.row, "metric": ref.metric,
                      "reference": ref.value, "kind": ref.kind, "source": ref.source,
                      "lmrec": mean, "seeds": seeds, "capped": capped,
                      "ratio": mean / ref.value if mean is not None and ref.value else None,
                      "folders": folders, "needs": ref.needs})
    return pd.DataFrame(lines, columns=["paper", "dataset", "method", "metric", "reference", "kind", "source",
                                        "lmrec", "seeds", "capped", "ratio", "folders", "needs"])


def reproduction_markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    """The table as Markdown: reference | lmrec | ratio, with "no run yet" where this repository has none."""
    head = "| paper | dataset | method | metric | reference | lmrec | ratio | kind | source |\n|" + "---|" * 9
    rows = []
    for r in frame.itertuples():
        have = r.lmrec is not None and not pd.isna(r.lmrec)
        lm = (f"{r.lmrec:.{digits}f}" + (f" ({r.seeds} seeds)" if r.seeds > 1 else "")
              + (" (capped: not converged)" if r.capped else "")) if have else (
            f"needs {r.needs}" if getattr(r, "needs", "") else "no run yet")
        ratio = f"{r.ratio:.2f}" if have and r.ratio is not None and not pd.isna(r.ratio) else ""
        rows.append(f"| {r.paper} | {r.dataset} | {r.method} | {r.metric} | {r.reference:.{digits}f} | {lm} | {ratio} "
                    f"| {r.kind} | {r.source} |")
    return "\n".join([head, *rows])


def write_reproduction(frame: pd.DataFrame, folder: Path | None = None) -> list[Path]:
    """``reproduction.csv`` and ``reproduction.md`` under ``outputs/tables/`` (atomic writes)."""
    from ..paths import tables_dir
    from ..utils import atomic_path

    folder = folder or tables_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("reproduction.csv", frame.to_csv(index=False)), ("reproduction.md", reproduction_markdown(frame))):
        with atomic_path(folder / name) as tmp:
            tmp.write_text(text + ("" if text.endswith("\n") else "\n"))
        written.append(folder / name)
    return written
