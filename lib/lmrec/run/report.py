"""Result tables from ``outputs/runs/**/metrics.json`` only, so tables rebuild without retraining.

Each finished run names a ``table`` and a ``row``; the latest run per (table, row) wins. Tables are
written as CSV and Markdown under ``outputs/tables/`` with the evaluation protocol as caption.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from ..paths import runs_dir, tables_dir
from ..utils import atomic_path

METRIC_ORDER = ("recall", "ndcg", "precision", "hit", "mrr")
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def collect_runs(root: Path | None = None) -> pd.DataFrame:
    """One row per ``metrics.json``: notebook, table, row, caption, folder, finished_at and the metrics."""
    root = root or runs_dir()
    records = []
    for path in sorted(root.glob("**/metrics.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue  # a half-written file cannot exist (atomic writes); a hand-edited broken one is ignored
        records.append({"notebook": data.get("notebook"), "table": data.get("table"), "row": data.get("row"),
                        "caption": data.get("caption", ""), "folder": str(path.parent),
                        "finished_at": data.get("finished_at", ""), "seconds": data.get("timings", {}).get("total"),
                        "metrics": data.get("metrics", {}), "extra": data.get("extra", {})})
    return pd.DataFrame.from_records(records, columns=["notebook", "table", "row", "caption", "folder",
                                                       "finished_at", "seconds", "metrics", "extra"])


def _metric_key(name: str) -> tuple:
    m = re.match(r"([a-z_]+)(?:@(\d+))?$", name)
    base, k = (m.group(1), int(m.group(2) or 0)) if m else (name, 0)
    rank = METRIC_ORDER.index(base) if base in METRIC_ORDER else len(METRIC_ORDER)
    return (rank, base, k)


def build_tables(runs: pd.DataFrame, metrics: dict[str, list[str]] | None = None) -> dict[str, tuple[pd.DataFrame, str]]:
    """``{table: (frame rows x metrics, caption)}``; the latest run per row wins; ``metrics`` picks columns."""
    tables = {}
    named = runs[runs["table"].notna()].sort_values("finished_at")
    for table, group in named.groupby("table", sort=True):
        latest = group.drop_duplicates("row", keep="last")
        frame = pd.DataFrame([r for r in latest["metrics"]], index=latest["row"].tolist())
        cols = (metrics or {}).get(table) or sorted(frame.columns, key=_metric_key)
        frame = frame[[c for c in cols if c in frame.columns]]
        frame.index.name = table
        captions = sorted({c for c in latest["caption"] if c})
        tables[table] = (frame, " / ".join(captions))
    return tables


def to_markdown(frame: pd.DataFrame, caption: str = "", digits: int = 4) -> str:
    """A Markdown table (integral columns without decimals) with the caption in italics below."""
    frame = frame.copy()
    for col in frame.columns:
        values = frame[col]
        if values.notna().all() and (values == values.round()).all() and values.abs().max() >= 1:
            frame[col] = values.astype("int64")
    body = frame.to_markdown(floatfmt=f".{digits}f")
    return f"{body}\n\n*{caption}*\n" if caption else body + "\n"


def write_tables(tables: dict[str, tuple[pd.DataFrame, str]], folder: Path | None = None) -> list[Path]:
    """Write ``<table>.csv`` and ``<table>.md`` for each table (atomically); return the paths."""
    folder = folder or tables_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (frame, caption) in tables.items():
        for suffix, text in ((".csv", frame.to_csv()), (".md", f"### {name}\n\n" + to_markdown(frame, caption))):
            with atomic_path(folder / f"{name}{suffix}") as tmp:
                tmp.write_text(text)
            written.append(folder / f"{name}{suffix}")
    return written


def update_readme(readme: Path, folder: Path | None = None) -> bool:
    """Replace the README's generated results block with the Markdown tables; True if it changed."""
    folder = folder or tables_dir()
    blocks = [p.read_text().strip() for p in sorted(folder.glob("*.md"))]
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme}: no {README_START} ... {README_END} block to fill")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n" + "\n\n".join(blocks) + f"\n{README_END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text
