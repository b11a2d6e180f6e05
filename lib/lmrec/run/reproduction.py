"""The reproduction table: each reference number (``references.yaml``: a paper's table or a run of the authors'
code, with its split and source) beside this repository's runs of the same row and metric on the same split, and
their ratio. Built from the runs' ``metrics.json`` like every other table; a reference without a matching run
shows an empty ``lmrec`` cell, never a number from another split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .plan import parse_yaml

REFERENCES = Path(__file__).with_name("references.yaml")
FIELDS = ("paper", "table", "dataset", "row", "metric", "value", "kind", "source")
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
        names = entry["dataset"] if isinstance(entry["dataset"], list) else [entry["dataset"]]
        out.append(Reference(**{**{f: entry[f] for f in FIELDS}, "dataset": tuple(str(n) for n in names)}))
    return out


def dataset_name(dataset: Any) -> str:
    """``rlmrec:../shared/data/rlmrec_yelp`` -> ``rlmrec:rlmrec_yelp`` (format and folder name, wherever the folder
    lies); a built-in name (``ml100k``) stays as it is."""
    text = str(dataset or "")
    if ":" not in text:
        return text
    fmt, folder = text.split(":", 1)
    return f"{fmt}:{Path(folder.rstrip('/')).name or folder}"


def reproduction_table(runs: pd.DataFrame, references: list[Reference] | None = None) -> pd.DataFrame:
    """One line per reference: reference value, kind and source; the mean over the matching runs' seeds
    (``lmrec``), their number, whether any was capped, the ratio lmrec / reference and the run folders."""
    references = load_references() if references is None else references
    lines = []
    for ref in references:
        match = runs[(runs["table"] == ref.table) & (runs["row"] == ref.row)] if len(runs) else runs
        match = match[[dataset_name(p.get("DATASET")) in ref.dataset for p in match["params"]]] if len(match) else match
        values = [m[ref.metric] for m in match["metrics"] if ref.metric in m] if len(match) else []
        mean = sum(values) / len(values) if values else None
        capped = bool(len(match)) and any(s in ("capped", "epoch_limit") for s in match["status"])
        lines.append({"paper": ref.paper, "dataset": ref.dataset[0], "method": ref.row, "metric": ref.metric,
                      "reference": ref.value, "kind": ref.kind, "source": ref.source,
                      "lmrec": mean, "seeds": len(values), "capped": capped,
                      "ratio": mean / ref.value if mean is not None and ref.value else None,
                      "folders": " ".join(match["folder"]) if len(match) else ""})
    return pd.DataFrame(lines, columns=["paper", "dataset", "method", "metric", "reference", "kind", "source",
                                        "lmrec", "seeds", "capped", "ratio", "folders"])


def reproduction_markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    """The table as Markdown: reference | lmrec | ratio, with "no run yet" where this repository has none."""
    head = "| paper | dataset | method | metric | reference | lmrec | ratio | kind | source |\n|" + "---|" * 9
    rows = []
    for r in frame.itertuples():
        have = r.lmrec is not None and not pd.isna(r.lmrec)
        lm = (f"{r.lmrec:.{digits}f}" + (f" ({r.seeds} seeds)" if r.seeds > 1 else "")
              + (" (capped: not converged)" if r.capped else "")) if have else "no run yet"
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
