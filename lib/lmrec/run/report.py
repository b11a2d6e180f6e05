"""Result tables from ``outputs/runs/**/metrics.json`` only, so tables rebuild without retraining.

A row is keyed by its report ``table``, the dataset (``DATASET``, ``SPLIT``, ``MIN_RATING``), the users it was
evaluated on (``test: N users`` of its caption), its evaluation protocol, its ``row`` label and where it came
from (a plan run, or a run made by hand: ``manual-*`` folders, shown as their own ``(by hand)`` rows). Each
(table, dataset, users) gets its own :class:`ResultTable`, so a number is never placed beside numbers measured
on another dataset, split or user set. Runs of one row that differ only in ``SEED`` are seeds: the row shows
their mean, a 95 % t-interval and the number of seeds; when a row's runs differ in other parameters, the
parameters of its latest run win (the others are counted as superseded). LLM-enhanced rows carry a marker
where they differ from their base row beyond noise (a paired t-interval over the seeds both share).
Tables are written as CSV (long form, one line per row with its dataset and run folders) and Markdown under
``outputs/tables/``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..eval.intervals import direction, mean_ci, paired
from ..paths import notebooks_dir, runs_dir, tables_dir
from ..train.engine import NOT_CONVERGED
from ..utils import atomic_path

METRIC_ORDER = ("recall", "ndcg", "precision", "hit", "mrr")
SEED_PARAMS = ("SEED", "DEVICE")  # runs differing only in these are repetitions of one row
# the columns each table shows in the README and the report (the papers' own columns); the CSVs keep them all
README_COLUMNS = {
    "datasets": ["n_users", "n_items", "n_train", "n_valid", "n_test", "density"],
    "rlmrec": [f"{m}@{k}" for m in ("recall", "ndcg") for k in (5, 10, 20)],
    "llmrec": [f"{m}@{k}" for m in ("recall", "ndcg", "precision") for k in (10, 20, 50)],
    "sequential": ["recall@10", "recall@50", "ndcg@10", "ndcg@50", "mrr"],
    "cllm4rec": ["recall@20", "recall@40", "ndcg@100"],
    "llm_stages": ["requests", "calls", "cache_hits", "failures", "failure_rate", "wall_s"],
}
# LLM-enhanced rows and their base rows (regex on the row label -> base label), compared paired over seeds
BASE_ROWS = {
    "rlmrec": [(r"^(?P<base>.+)\+(Con|Gen)( \(.*\))?$", "{base}")],  # "(raw text)" / "(shuffled)": part 4 controls
    "llmrec": [(r"^LLMRec\b.*$", "LightGCN (no augmentation)")],
    "cllm4rec": [(r"^CLLM4Rec\b.*$", "LightGCN")],
    "sequential": [(r"^(Recformer|LEARN)\b.*$", "SASRec")],
}
# llm_stages metrics with these prefixes describe a sub-stage: they become rows of their own
SUBSTAGE_PREFIXES = ("pairs_", "profiles_", "attributes_")
BY_HAND = " (by hand)"
CAPPED = " (capped: not converged)"  # a run whose training a time or epoch budget stopped
NOT_EVALUATIONS = ("datasets", "llm_stages")  # tables of facts, not of metrics on test users: captions kept whole
TABLE_ORDER = ("datasets", "rlmrec", "llmrec", "sequential", "cllm4rec", "llm_stages")  # others after, by name
_USERS = re.compile(r"\b(test|valid): (\d+) users; ")


@dataclass
class ResultTable:
    """One report table for one dataset and user set: mean, interval, seeds, markers and run folders per row."""

    table: str
    dataset: str                  # e.g. "ml100k · rlmrec split · ratings >= 4"
    users: int | None             # evaluated users (None: not an evaluation table)
    mean: pd.DataFrame            # rows x metrics
    ci95: pd.DataFrame            # half-width of the 95 % interval over seeds (NaN with one seed)
    n_seeds: pd.Series
    marks: pd.DataFrame           # "▲" / "▼" where a row beats / trails its base row beyond noise, else ""
    protocols: dict[str, str]     # row -> evaluation protocol text
    folders: dict[str, list[str]] = field(default_factory=dict)  # row -> run folders (one per seed)
    superseded: dict[str, int] = field(default_factory=dict)     # row -> runs with other parameters, not shown
    base: dict[str, str] = field(default_factory=dict)           # row -> its base row

    @property
    def title(self) -> str:
        users = f" · {self.users} test users" if self.users is not None else ""
        return f"{self.table} · {self.dataset}{users}" if self.dataset else self.table

    @property
    def slug(self) -> str:
        return _slug(self.title)

    def caption(self) -> str:
        """The evaluation protocol(s), each once; rows under a minority protocol are named (never joined by ' / ')."""
        distinct = list(dict.fromkeys(p for p in self.protocols.values() if p))
        if len(distinct) <= 1:
            return distinct[0] if distinct else ""
        parts = []
        for i, proto in enumerate(distinct, 1):
            rows = [r for r, p in self.protocols.items() if p == proto]
            parts.append(f"({i}) {', '.join(rows)}: {proto}")
        return ("Protocols differ between rows. " if self.users is not None else "") + " ".join(parts)


def dataset_label(dataset: Any, split: Any, min_rating: Any) -> str:
    """``ml100k · rlmrec split · ratings >= 4`` (parts that are unknown are left out; a pre-split
    ``<format>:<folder>`` dataset is read as it is, so no rating threshold applies to it)."""
    parts = [str(dataset)] if dataset not in (None, "") else []
    if split not in (None, ""):
        parts.append(f"{split} split")
    if min_rating not in (None, "", 0, 0.0) and ":" not in str(dataset or ""):
        parts.append(f"ratings >= {min_rating:g}" if isinstance(min_rating, (int, float)) else f"ratings >= {min_rating}")
    return " · ".join(parts)


def _notebook_defaults(notebook: str, cache: dict[str, dict]) -> dict[str, Any]:
    if notebook not in cache:
        path = notebooks_dir() / f"{notebook}.ipynb"
        try:
            from ..defaults import literal_defaults

            cache[notebook] = literal_defaults(path) if path.exists() else {}
        except Exception:  # a notebook that cannot be read does not stop the report
            cache[notebook] = {}
    return cache[notebook]


def collect_runs(root: Path | None = None) -> pd.DataFrame:
    """One row per ``metrics.json``: notebook, table, row, caption, folder, finished_at, seconds, metrics,
    extra, params, seed, dataset (label), users, protocol, origin (``plan`` | ``manual``), commit, machine,
    history (a run's validation history: ``extra.history`` or ``history.json``)."""
    root = root or runs_dir()
    records = []
    defaults: dict[str, dict] = {}
    for path in sorted(root.glob("**/metrics.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue  # a half-written file cannot exist (atomic writes); a hand-edited broken one is ignored
        params = data.get("params") or {}
        nb = data.get("notebook") or path.parent.parent.name
        value = {**_notebook_defaults(nb, defaults), **params}.get
        caption = data.get("caption") or ""
        users, protocol = _protocol_of(caption)
        env = _read_json(path.parent / "env.json")
        extra = data.get("extra") or {}
        history = extra.get("history") if isinstance(extra.get("history"), list) else None
        if history is None and (path.parent / "history.json").exists():
            history = _read_json(path.parent / "history.json") or None
        records.append({
            "notebook": nb, "table": data.get("table"), "row": data.get("row"), "caption": caption,
            "folder": str(path.parent), "finished_at": data.get("finished_at", ""),
            "seconds": (data.get("timings") or {}).get("total"), "metrics": data.get("metrics") or {},
            "extra": extra, "params": params, "seed": data.get("seed", params.get("SEED")),
            "dataset": dataset_label(value("DATASET"), value("SPLIT"), value("MIN_RATING")),
            "users": users, "protocol": protocol,
            "origin": "manual" if path.parent.name.startswith("manual-") else "plan",
            "commit": data.get("git_commit") or env.get("git_commit"), "machine": machine_of(env),
            "history": history, "status": data.get("status") or "done",
        })
    return pd.DataFrame.from_records(records, columns=[
        "notebook", "table", "row", "caption", "folder", "finished_at", "seconds", "metrics", "extra", "params",
        "seed", "dataset", "users", "protocol", "origin", "commit", "machine", "history", "status"])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def machine_of(env: dict) -> str:
    """``<CPU> x<cores>; <GPU or no GPU>; device <d>`` from a run's ``env.json``."""
    if not env:
        return ""
    parts = [f"{env.get('cpu', '?')} x{env.get('cpu_count', '?')}", env.get("gpu") or "no GPU"]
    if env.get("device"):
        parts.append(f"device {env['device']}")
    return "; ".join(parts)


def _protocol_of(caption: str) -> tuple[int | None, str]:
    """(evaluated users, protocol text from ``test: N users; ...`` on) of a run caption."""
    found = list(_USERS.finditer(caption))
    test = [m for m in found if m.group(1) == "test"] or found
    if not test:
        return None, ""
    m = test[-1]
    return int(m.group(2)), caption[m.start():].strip()


def _metric_key(name: str) -> tuple:
    m = re.match(r"([a-z_]+)(?:@(\d+))?$", name)
    base, k = (m.group(1), int(m.group(2) or 0)) if m else (name, 0)
    rank = METRIC_ORDER.index(base) if base in METRIC_ORDER else len(METRIC_ORDER)
    return (rank, base, k)


def paired_mark(row: dict[int, float], base: dict[int, float]) -> str:
    """``▲``/``▼`` when the mean paired difference over the seeds both share has a 95 % interval wholly above /
    below 0 (:func:`lmrec.eval.intervals.paired`), else ``""``."""
    return {1: "▲", -1: "▼"}.get(direction(paired(row, base)), "")


def capped_note(statuses: list[str]) -> str:
    """The label note of a row whose training a time or epoch budget stopped: in every seed (`CAPPED`) or in
    some (`` (capped: not converged in 2 of 3 seeds)``); seeds of one row stay one row either way."""
    n = sum(st in NOT_CONVERGED for st in statuses)
    if not n:
        return ""
    return CAPPED if n == len(statuses) else f" (capped: not converged in {n} of {len(statuses)} seeds)"


def base_row(table: str, row: str) -> str | None:
    """The base row an LLM-enhanced row is compared with (``BASE_ROWS``), or None."""
    suffix = BY_HAND if row.endswith(BY_HAND) else ""
    label = row[: -len(BY_HAND)] if suffix else row
    for pattern, template in BASE_ROWS.get(table, []):
        m = re.match(pattern, label)
        if m:
            base = template.format(**m.groupdict()) + suffix
            return None if base == row else base
    return None


def _config(params: dict) -> str:
    return json.dumps({k: v for k, v in (params or {}).items() if k not in SEED_PARAMS}, sort_keys=True, default=str)


def _split_substages(runs: pd.DataFrame) -> pd.DataFrame:
    """llm_stages runs whose metrics carry sub-stage prefixes become one run per sub-stage."""
    out = []
    for rec in runs.to_dict("records"):
        metrics = rec["metrics"]
        prefixes = [p for p in SUBSTAGE_PREFIXES if any(k.startswith(p) for k in metrics)]
        if rec["table"] != "llm_stages" or not prefixes:
            out.append(rec)
            continue
        rest = {k: v for k, v in metrics.items() if not k.startswith(SUBSTAGE_PREFIXES)}
        if rest:
            out.append({**rec, "metrics": rest})
        for p in prefixes:
            out.append({**rec, "row": f"{rec['row']}: {p.rstrip('_')}",
                        "metrics": {k[len(p):]: v for k, v in metrics.items() if k.startswith(p)}})
    return pd.DataFrame.from_records(out, columns=runs.columns)


def build_tables(runs: pd.DataFrame, metrics: dict[str, list[str]] | None = None) -> list[ResultTable]:
    """One :class:`ResultTable` per (table, dataset, evaluated users); ``metrics`` picks columns per table.

    The ``datasets`` table is one table whose rows are the datasets. Rows are ordered by notebook, then by
    when each row first appeared (the plan's order), so a re-run keeps its row's place."""
    named = runs[runs["table"].notna() & runs["row"].notna()].copy()
    if named.empty:
        return []
    named = _split_substages(named.sort_values("finished_at", kind="stable"))
    named["label"] = [r + (BY_HAND if o == "manual" else "") for r, o in zip(named["row"], named["origin"])]
    named.loc[named["table"] == "datasets", "label"] = [
        d or r for d, r in zip(named.loc[named["table"] == "datasets", "dataset"],
                               named.loc[named["table"] == "datasets", "row"])]
    named.loc[named["table"] == "datasets", "dataset"] = ""
    facts = named["table"].isin(NOT_EVALUATIONS)
    named.loc[facts, "protocol"] = named.loc[facts, "caption"]
    named["users_key"] = [-1 if f or u is None or pd.isna(u) else int(u) for f, u in zip(facts, named["users"])]
    tables = []
    for (table, dataset, users_key), group in named.groupby(["table", "dataset", "users_key"], sort=True):
        tables.append((_table_rank(str(table)), group["finished_at"].min(),
                       _one_table(str(table), str(dataset), None if users_key < 0 else int(users_key), group,
                                  (metrics or {}).get(str(table)))))
    return [t for *_, t in sorted(tables, key=lambda x: x[:2])]


def _table_rank(table: str) -> tuple[int, str]:
    return (TABLE_ORDER.index(table) if table in TABLE_ORDER else len(TABLE_ORDER), table)


def _one_table(table: str, dataset: str, users: int | None, group: pd.DataFrame,
               columns: list[str] | None) -> ResultTable:
    order: list[tuple[str, str, str]] = []
    chosen: dict[str, pd.DataFrame] = {}
    superseded: dict[str, int] = {}
    # one row per (label, protocol); a label under two protocols gets the protocol number appended
    for (label, protocol), runs in group.groupby(["label", "protocol"], sort=False):
        runs = runs.sort_values("finished_at", kind="stable")
        latest_config = _config(runs.iloc[-1]["params"])
        same = runs[[_config(p) == latest_config for p in runs["params"]]]
        same = same.drop_duplicates("seed", keep="last")
        order.append((runs["notebook"].min(), runs["finished_at"].min(), f"{label}\x00{protocol}"))
        chosen[f"{label}\x00{protocol}"] = same
        superseded[f"{label}\x00{protocol}"] = len(runs) - len(same)
    order.sort()
    labels_seen: dict[str, int] = {}
    shown: dict[str, str] = {}  # row label without its capped note -> the name the table shows
    rows, means, cis, seeds, protocols, folders, sup, per_seed = [], [], [], [], {}, {}, {}, {}
    for _, _, key in order:
        label, protocol = key.split("\x00")
        labels_seen[label] = labels_seen.get(label, 0) + 1
        plain = label if labels_seen[label] == 1 else f"{label} [{labels_seen[label]}]"
        runs = chosen[key]
        name = plain + capped_note(list(runs["status"]))
        shown[plain] = name
        metric_names = sorted({m for d in runs["metrics"] for m in d})
        mean, ci = {}, {}
        for m in metric_names:
            mean[m], ci[m] = mean_ci([float(d[m]) for d in runs["metrics"] if m in d and d[m] is not None])
        rows.append(name)
        means.append(mean)
        cis.append(ci)
        seeds.append(len(runs))
        protocols[name] = protocol
        folders[name] = list(runs["folder"])
        sup[name] = superseded[key]
        per_seed[name] = {m: {s: float(d[m]) for s, d in zip(runs["seed"], runs["metrics"]) if m in d}
                          for m in metric_names}
    mean_frame = pd.DataFrame(means, index=rows)
    cols = columns or sorted(mean_frame.columns, key=_metric_key)
    cols = [c for c in cols if c in mean_frame.columns]
    mean_frame = mean_frame[cols]
    ci_frame = pd.DataFrame(cis, index=rows).reindex(columns=cols)
    marks = pd.DataFrame("", index=rows, columns=cols)
    bases = {}
    for plain, name in shown.items():
        base = shown.get(base_row(table, plain) or "")
        if base is None or base not in per_seed:
            continue
        bases[name] = base
        for c in cols:
            if c in per_seed[name] and c in per_seed[base]:
                marks.loc[name, c] = paired_mark(per_seed[name][c], per_seed[base][c])
    for frame in (mean_frame, ci_frame, marks):
        frame.index.name = table
    return ResultTable(table, dataset, users, mean_frame, ci_frame, pd.Series(seeds, index=rows, name="seeds"),
                       marks, protocols, folders, {k: v for k, v in sup.items() if v}, bases)


def _number(v: float, integral: bool, digits: int) -> str:
    if v is None or pd.isna(v):
        return ""
    return f"{int(round(v)):d}" if integral else f"{v:.{digits}f}"


def cells(rt: ResultTable, columns: list[str] | None = None, digits: int = 4,
          link: Any = None) -> pd.DataFrame:
    """The table as strings: ``mean ± ci`` (the interval only with two or more seeds), the marker, and a
    ``seeds`` column when any row has several. ``link(folder) -> url`` turns each value of a one-run row into
    a link to its run folder, and adds a ``runs`` column with one link per seed."""
    cols = [c for c in (columns or list(rt.mean.columns)) if c in rt.mean.columns]
    out = pd.DataFrame(index=rt.mean.index)
    for col in cols:
        known = rt.mean[col].dropna()
        integral = len(known) > 0 and (known == known.round()).all() and known.abs().max() >= 1
        texts = []
        for row in rt.mean.index:
            text = _number(rt.mean.loc[row, col], integral, digits)
            half = rt.ci95.loc[row, col]
            if text and not pd.isna(half):
                text += f" ± {_number(half, integral and half == round(half), digits)}"
            if text and rt.marks.loc[row, col]:
                text += f" {rt.marks.loc[row, col]}"
            if text and link is not None and len(rt.folders.get(row, [])) == 1:
                text = f"[{text}]({link(rt.folders[row][0])})"
            texts.append(text)
        out[col] = texts
    if (rt.n_seeds > 1).any():
        out["seeds"] = [str(n) for n in rt.n_seeds]
    if link is not None:
        out["runs"] = [" ".join(f"[{i}]({link(f)})" for i, f in enumerate(rt.folders.get(r, []), 1))
                       for r in rt.mean.index]
    out.index.name = rt.mean.index.name
    return out


def to_markdown(frame: pd.DataFrame, caption: str = "", digits: int = 4) -> str:
    """A Markdown table (numbers formatted like :func:`cells`; strings kept) with the caption in italics below."""
    body_frame = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        if values.notna().sum() == 0 and frame[col].notna().any():
            body_frame[col] = frame[col].fillna("").astype(str)
            continue
        known = values.dropna()
        integral = len(known) > 0 and (known == known.round()).all() and known.abs().max() >= 1
        body_frame[col] = [_number(v, integral, digits) for v in values]
    body_frame.index.name = frame.index.name
    body = body_frame.to_markdown(disable_numparse=True, colalign=("left",) + ("right",) * len(body_frame.columns))
    return f"{body}\n\n*{caption}*\n" if caption else body + "\n"


def table_markdown(rt: ResultTable, columns: list[str] | None = None, link: Any = None, digits: int = 4,
                   title: str | None = None) -> str:
    """One report table as Markdown: title (default :attr:`ResultTable.title`), body, caption (protocol,
    markers, superseded runs)."""
    title = title or rt.title
    frame = cells(rt, columns, digits, link)
    body = frame.to_markdown(disable_numparse=True, colalign=("left",) + ("right",) * len(frame.columns))
    notes = [rt.caption()]
    if rt.base and (rt.n_seeds > 1).any():  # a marker needs seeds to compare
        notes.append("▲/▼: beyond noise against the base row (" + "; ".join(
            f"{r} vs {b}" for r, b in rt.base.items()) + "), paired 95 % interval over shared seeds")
    if (rt.n_seeds > 1).any():
        notes.append("mean ± 95 % t-interval over seeds")
    if rt.superseded:
        notes.append("not shown: " + ", ".join(f"{n} older run(s) of {r} with other parameters"
                                               for r, n in rt.superseded.items()))
    caption = ". ".join(n.rstrip(".") for n in notes if n)
    return f"### {title}\n\n{body}\n\n*{caption}*\n" if caption else f"### {title}\n\n{body}\n"


def long_frame(tables: list[ResultTable], table: str) -> pd.DataFrame:
    """Every row of one report table across datasets (CSV form): keys, seeds, means, interval half-widths,
    markers, protocol and run folders."""
    frames = []
    for rt in tables:
        if rt.table != table:
            continue
        f = rt.mean.copy()
        for c in rt.mean.columns:
            f[f"{c}_ci95"] = rt.ci95[c]
            f[f"{c}_mark"] = rt.marks[c]
        f.insert(0, "seeds", rt.n_seeds)
        f.insert(0, "users", rt.users)
        f.insert(0, "dataset", rt.dataset)
        f["protocol"] = [rt.protocols.get(r, "") for r in f.index]
        f["folders"] = [" ".join(rt.folders.get(r, [])) for r in f.index]
        f.index.name = "row"
        frames.append(f.reset_index())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_tables(tables: list[ResultTable], folder: Path | None = None) -> list[Path]:
    """Write ``<table>.csv`` (long form, every dataset) and ``<table>.md`` (one section per dataset)."""
    folder = folder or tables_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in dict.fromkeys(rt.table for rt in tables):
        md = "\n".join(table_markdown(rt) for rt in tables if rt.table == name)
        for suffix, text in ((".csv", long_frame(tables, name).to_csv(index=False)), (".md", md)):
            with atomic_path(folder / f"{name}{suffix}") as tmp:
                tmp.write_text(text)
            written.append(folder / f"{name}{suffix}")
    return written


def readme_block(folder: Path | None = None) -> str:
    """The README's results: per table and dataset, the :data:`README_COLUMNS` (``mean ± interval`` where
    several seeds ran) with the evaluation protocol as caption. (The reproduction table goes in the README's
    ``bench-results`` block, from ``bench/results/reproduction.md``: :mod:`lmrec.run.readme`.)"""
    folder = folder or tables_dir()
    blocks = []
    for csv in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        if "row" not in frame.columns or "dataset" not in frame.columns:
            continue
        for (dataset, users), part in frame.groupby(["dataset", "users"], sort=False, dropna=False):
            cols = [c for c in README_COLUMNS.get(csv.stem, []) if c in part.columns and part[c].notna().any()]
            if not cols:
                cols = [c for c in part.columns if c not in ("row", "dataset", "users", "seeds", "protocol", "folders")
                        and not c.endswith(("_ci95", "_mark")) and part[c].notna().any()]
            rt = ResultTable(csv.stem, "" if pd.isna(dataset) else str(dataset), None if pd.isna(users) else int(users),
                             part.set_index("row")[cols].rename_axis(csv.stem),
                             part.set_index("row")[[f"{c}_ci95" for c in cols]].set_axis(cols, axis=1),
                             part.set_index("row")["seeds"],
                             part.set_index("row")[[f"{c}_mark" for c in cols]].fillna("").set_axis(cols, axis=1),
                             dict(zip(part["row"], part["protocol"].fillna(""))))
            blocks.append(table_markdown(rt).strip())
    return "\n\n".join(blocks)


def update_readme(readme: Path, folder: Path | None = None) -> bool:
    """Replace the README's generated ``results`` block with :func:`readme_block`; True if it changed."""
    from .readme import update_block

    return update_block(readme, "results", readme_block(folder))


def provenance(runs: pd.DataFrame) -> pd.DataFrame:
    """One line per run: where it came from (notebook, row, dataset, seed, origin, commit, finish time, machine,
    seconds, folder)."""
    cols = ["notebook", "row", "dataset", "seed", "origin", "commit", "finished_at", "machine", "seconds", "folder"]
    frame = runs[cols].copy()
    frame["commit"] = [(c or "")[:10] + ("-dirty" if (c or "").endswith("-dirty") else "") for c in frame["commit"]]
    frame["seconds"] = ["" if s is None or pd.isna(s) else f"{s:.0f}" for s in frame["seconds"]]
    return frame.sort_values(["notebook", "finished_at"], kind="stable").reset_index(drop=True)


def validation_curves(runs: pd.DataFrame) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """``{(dataset, notebook): [{"label", "x", "y", "metric"}]}``: the recorded validation history of every
    run that has one, on its selection metric (the ``valid_<metric>`` key most epochs record)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in runs.sort_values(["notebook", "finished_at"]).to_dict("records"):
        history = rec.get("history")
        if not isinstance(history, list) or not history:
            continue
        entries = [h for h in history if isinstance(h, dict)]
        counts: dict[str, int] = {}
        for h in entries:
            for k, v in h.items():
                if k.startswith("valid_") and isinstance(v, (int, float)) and k not in ("valid_seconds", "valid_sum"):
                    counts[k] = counts.get(k, 0) + 1
        if not counts:
            continue
        metric = max(counts, key=lambda k: (counts[k], k))
        points = [(h.get("epoch", i), h[metric]) for i, h in enumerate(entries) if isinstance(h.get(metric), (int, float))]
        if "stage" in entries[0]:  # several training stages: number the evaluations in order
            points = [(i + 1, y) for i, (_, y) in enumerate(points)]
        row = rec.get("row")
        label = (row if isinstance(row, str) and row else rec["notebook"]) + (BY_HAND if rec.get("origin") == "manual" else "")
        if rec.get("seed") is not None and not pd.isna(rec["seed"]):
            label += f" (seed {rec['seed']})"
        out.setdefault((rec.get("dataset") or "", rec["notebook"]), []).append(
            {"label": label, "x": [p[0] for p in points], "y": [p[1] for p in points], "metric": metric,
             "folder": rec["folder"]})
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9=_.+-]+", "-", text).strip("-")
