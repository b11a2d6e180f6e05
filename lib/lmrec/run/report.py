"""Result tables from ``outputs/runs/**/metrics.json`` only, so tables rebuild without retraining.

Each finished run names a ``table`` and a ``row``; the latest run per (table, row) wins; rows are listed in
notebook order, then in the order they first appeared. Tables are
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
# the columns each table shows in the README (the papers' own columns); the CSV/Markdown files keep them all
README_COLUMNS = {
    "datasets": ["n_users", "n_items", "n_train", "n_valid", "n_test", "density"],
    "rlmrec": [f"{m}@{k}" for m in ("recall", "ndcg") for k in (5, 10, 20)],
    "llmrec": [f"{m}@{k}" for m in ("recall", "ndcg", "precision") for k in (10, 20, 50)],
    "sequential": ["recall@10", "recall@50", "ndcg@10", "ndcg@50", "mrr"],
    "cllm4rec": ["recall@20", "recall@40", "ndcg@100"],
    "llm_stages": ["requests", "calls", "failure_rate", "wall_s", "pairs_failure_rate", "profiles_failure_rate",
                   "attributes_failure_rate"],
}


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
        # the latest run per row; rows in notebook order, then in the order each row first appeared (the plan's
        # order), so a re-run keeps its row's place
        first_seen = group.groupby("row")["finished_at"].min()
        latest = group.drop_duplicates("row", keep="last")
        latest = latest.assign(_first=latest["row"].map(first_seen)).sort_values(["notebook", "_first"], kind="stable")
        frame = pd.DataFrame([r for r in latest["metrics"]], index=latest["row"].tolist())
        cols = (metrics or {}).get(table) or sorted(frame.columns, key=_metric_key)
        frame = frame[[c for c in cols if c in frame.columns]]
        frame.index.name = table
        captions = sorted({c for c in latest["caption"] if c})
        tables[table] = (frame, " / ".join(captions))
    return tables


def to_markdown(frame: pd.DataFrame, caption: str = "", digits: int = 4) -> str:
    """A Markdown table (integral columns without decimals, empty cells for missing values) with the caption
    in italics below."""
    cells = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        known = values.dropna()
        integral = len(known) > 0 and (known == known.round()).all() and known.abs().max() >= 1
        cells[col] = [("" if pd.isna(v) else f"{int(v):d}" if integral else f"{v:.{digits}f}") for v in values]
    cells.index.name = frame.index.name
    body = cells.to_markdown(disable_numparse=True, colalign=("left",) + ("right",) * len(cells.columns))
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


def readme_block(folder: Path | None = None) -> str:
    """The README's results: each table's :data:`README_COLUMNS` (columns empty in every row dropped) and,
    as caption, the evaluation protocol only (the per-run details stay in ``outputs/tables``)."""
    folder = folder or tables_dir()
    blocks = []
    for csv in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(csv, index_col=0)
        cols = [c for c in README_COLUMNS.get(csv.stem, list(frame.columns)) if c in frame.columns]
        frame = frame[cols].dropna(axis=1, how="all")
        md = csv.with_suffix(".md")
        caption = md.read_text().strip().splitlines()[-1].strip("*") if md.exists() else ""
        blocks.append(f"### {csv.stem}\n\n" + to_markdown(frame, _protocol(caption)).strip())
    return "\n\n".join(blocks)


def _protocol(caption: str) -> str:
    """The distinct evaluation-protocol parts (from ``test:`` on) of a table caption joined by ' / '."""
    parts = [c[c.index("test:"):] if "test:" in c else c for c in caption.split(" / ")]
    return " / ".join(dict.fromkeys(p.strip() for p in parts if p.strip()))


def update_readme(readme: Path, folder: Path | None = None) -> bool:
    """Replace the README's generated results block with :func:`readme_block`; True if it changed."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme}: no {README_START} ... {README_END} block to fill")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n" + readme_block(folder) + f"\n{README_END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text
