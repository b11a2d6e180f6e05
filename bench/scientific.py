"""The Scientific table (issue 23): Recformer's Amazon "Industrial & Scientific" split, all 11,041 users and all
5,327 items (``recformer:../shared/data/recformer_scientific_full``), leave-one-out, full ranking, both protocols
(history not masked, as Recformer's ``Ranker`` and RecBole's sequential evaluation behind the published numbers;
and history masked, as this repository's sequential table).

Subcommands:

* ``sasrec``: SASRec with the values of ``params/scientific`` (notebook 06's defaults otherwise), one seed, straight
  through the library (no notebook runner: the GPU machines lack papermill): test metrics under both protocols,
  the validation curve, seconds; one JSON record per seed in ``--out-dir``.
* ``mostpop``: MostPop under both protocols (one JSON record).
* ``learn-vectors``: LEARN's frozen-LLM item vectors of every item (notebook 40's content settings: SmolLM2-135M,
  128 tokens, float32), cached per text under ``$LMREC_OUTPUTS/cache`` (resumable: an interrupted call keeps what it
  embedded), saved as ``<out-dir>/learn_item_vectors.npy`` (what a GPU machine without the LLM's weights is given),
  with texts per second and the machine.
* ``collect``: the rows (mean and 95 % interval over seeds, paired differences against SASRec per seed with their
  mean and 95 % t-interval, NDCG@10 and Recall@10 under both protocols), curves, machine and CPU-hours from the
  notebook runs under ``--outputs`` (``python -m lmrec run 05 06 40 41 --params params/default --params
  params/scientific``), from records of this script (``--records``), from Recformer's rows in
  ``bench/results/recformer_scientific_full.json`` when that file exists (``bench/recformer_scientific_full.py
  write``), and, for rows none of these measured here (run folders of another machine), from the previous
  ``scientific.json`` (``--keep``; each kept row names its record) -> ``bench/results/scientific.{json,md}``.

``--smoke`` writes a tiny synthetic folder in Recformer's format and runs there (tests, bench/gpu_scientific.sh).

    OMP_NUM_THREADS=1 python bench/scientific.py sasrec --seed 2023 --out-dir outputs/scientific_bench
    python bench/scientific.py collect --outputs outputs/scientific
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from lmrec.data import load_dataset
from lmrec.eval import evaluate, intervals
from lmrec.eval.ranking import exclusion
from lmrec.run.context import environment
from lmrec.seqrec import SEQ_PROTOCOL, LeaveOneOut
from lmrec.seqrec.evaluate import sequential_metrics
from lmrec.seqrec.sasrec import SASRec, SASRecConfig, evaluate_sasrec, train_sasrec
from lmrec.utils import resolve_device, seed_everything, write_json

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "recformer_scientific_full"
PARAMS = ROOT / "params" / "scientific" / "sequential.yaml"
RECFORMER_ROWS = ROOT / "bench" / "results" / "recformer_scientific_full.json"  # written by bench/recformer_scientific_full.py
NOT_CONVERGED = ("capped", "epoch_limit")  # lmrec.train.engine.NOT_CONVERGED: reported as capped
PAIRED_METRICS = ("ndcg@10", "recall@10")
VERDICTS = {1: "yes, above", -1: "yes, below", 0: "no", None: "- (one seed)"}  # "excludes 0" of intervals.direction
# notebook-06 parameter -> SASRecConfig field
SASREC_FIELDS = {"HIDDEN_DIM": "hidden_dim", "N_BLOCKS": "n_blocks", "N_HEADS": "n_heads", "DROPOUT": "dropout",
                 "MAX_LEN": "max_len", "LOSS": "loss", "EPOCHS": "epochs", "BATCH_SIZE": "batch_size", "LR": "lr",
                 "EVAL_EVERY": "eval_every", "PATIENCE": "patience", "MASK_HISTORY": "mask_history"}
PUBLISHED = {"SASRec": {"ndcg@10": 0.0797, "recall@10": 0.1305}, "UniSRec": {"ndcg@10": 0.0862, "recall@10": 0.1255},
             "Recformer (finetuned)": {"ndcg@10": 0.1027, "recall@10": 0.1448, "mrr": 0.0951},
             "LEARN (finetuned)": {"ndcg@10": 0.1060, "recall@10": 0.1594}}
METRICS = ("ndcg@10", "recall@10", "mrr", "ndcg@50", "recall@50")


def write_smoke_folder(folder: Path, n_users: int = 60, n_items: int = 30, seed: int = 0) -> Path:
    """A tiny Recformer-format folder: users walk i -> i+1 (mod n_items) from a random start, with item text."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    seqs = {u: [(int(rng.integers(n_items)) + k) % n_items for k in range(int(rng.integers(4, 9)))] for u in range(n_users)}
    files = {"smap.json": {f"A{i}": i for i in range(n_items)}, "umap.json": {f"U{u}": u for u in range(n_users)},
             "train.json": {str(u): s[:-2] for u, s in seqs.items()}, "val.json": {str(u): [s[-2]] for u, s in seqs.items()},
             "test.json": {str(u): [s[-1]] for u, s in seqs.items()},
             "meta_data.json": {f"A{i}": {"title": f"item {i}", "brand": f"b{i % 3}", "category": "c"} for i in range(n_items)}}
    for name, obj in files.items():
        (folder / name).write_text(json.dumps(obj))
    return folder


def sasrec_config(seed: int, overrides: dict | None = None, params: Path = PARAMS) -> SASRecConfig:
    """SASRecConfig from params/scientific's notebook-06 values (plus ``overrides``, notebook parameter names)."""
    values = (yaml.safe_load(params.read_text())["notebooks"]["06_sasrec"] if params.exists() else {})
    values = {**values, **(overrides or {})}
    kwargs = {SASREC_FIELDS[k]: v for k, v in values.items() if k in SASREC_FIELDS}
    return SASRecConfig(**kwargs, seed=seed)


def run_sasrec(args: argparse.Namespace) -> dict:
    seed_everything(args.seed)
    device = resolve_device(args.device)
    ds = load_dataset(f"recformer:{args.data}", "given", seed=args.seed)
    loo = LeaveOneOut.from_dataset(ds)
    overrides = {"EPOCHS": 3, "EVAL_EVERY": 1, "HIDDEN_DIM": 16, "N_BLOCKS": 1, "MAX_LEN": 10} if args.smoke else {}
    overrides.update(json.loads(args.set or "{}"))
    config = sasrec_config(args.seed, overrides)
    model = SASRec(ds.n_items, config)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = train_sasrec(model, ds, config, device, loo=loo, checkpoint_dir=Path(args.out_dir) / f"sasrec_{args.seed}")
    test = {mask: sequential_metrics(evaluate_sasrec(model, ds, "test", loo, mask_history=mask)) for mask in (False, True)}
    record = {"row": "SASRec", "seed": args.seed, "data": str(args.data), "config": result.config,
              "status": result.status, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
              "train_seconds": round(result.seconds, 2), "wall_seconds": round(time.perf_counter() - wall0, 2),
              "cpu_seconds": round(time.process_time() - cpu0, 2), "test_unmasked": test[False],
              "test_masked": test[True], "history": result.history, "machine": environment(device)}
    write_json(Path(args.out_dir) / f"sasrec_{args.seed}.json", record)
    return record


def run_learn_vectors(args: argparse.Namespace) -> dict:
    from lmrec.learn import ContentConfig
    from lmrec.learn.content import item_content_embeddings
    from lmrec.learn.pipeline import item_texts

    ds = load_dataset(f"recformer:{args.data}", "given")
    texts = item_texts(ds)
    config = ContentConfig(model="tiny-random" if args.smoke else "smollm2-135m-instruct", max_length=128,
                           batch_size=16, device=str(resolve_device(args.device)))
    stats: dict[str, float] = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    vecs = item_content_embeddings(texts, config, progress=True, stats=stats)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    np.save(Path(args.out_dir) / "learn_item_vectors.npy", vecs.astype(np.float32))
    tokens = [len(t.split()) for t in texts]
    record = {"what": "LEARN item vectors", "config": config.key(), "n_items": len(texts), "shape": list(vecs.shape),
              "words_per_text_mean": float(np.mean(tokens)), "stats": stats,
              "wall_seconds": round(time.perf_counter() - wall0, 2), "cpu_seconds": round(time.process_time() - cpu0, 2),
              "machine": environment(config.device)}
    write_json(Path(args.out_dir) / "learn_item_vectors.json", record)
    return record


def run_mostpop(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    ds = load_dataset(f"recformer:{args.data}", "given")
    popularity = torch.as_tensor(np.asarray(ds.train.sum(0)).ravel(), dtype=torch.float32, device=device)

    def score(users: torch.Tensor) -> torch.Tensor:
        return popularity.expand(len(users), -1)

    out = {}
    for name, exclude in (("test_unmasked", None), ("test_masked", exclusion(ds, "test", SEQ_PROTOCOL))):
        res = evaluate(score, ds.matrix("test"), exclude, SEQ_PROTOCOL, device, split="test")
        out[name] = {k: float(res.metrics[k]) for k in METRICS}
    record = {"row": "MostPop", "data": str(args.data), **out, "machine": environment(device)}
    write_json(Path(args.out_dir) / "mostpop.json", record)
    return record


# ------------------------------------------------------------------------------------------------ collect
def _interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval, 0.0 for one seed (this record's JSON and tables hold 0 there,
    not :func:`~lmrec.eval.intervals.mean_ci`'s NaN)."""
    mean, half = intervals.mean_ci(values)
    return mean, 0.0 if math.isnan(half) else half


def _runs(outputs: Path) -> list[dict]:
    """metrics.json of the notebook runs on the full Scientific folder under ``outputs``."""
    out = []
    for path in sorted((outputs / "runs").glob("*/*/metrics.json")):
        rec = json.loads(path.read_text())
        if str(rec.get("params", {}).get("DATASET", "")).rstrip("/").endswith("recformer_scientific_full"):
            out.append({**rec, "folder": str(path.parent)})
    return out


def _protocols(rec: dict) -> dict[str, dict]:
    """``{"unmasked": metrics, "masked": metrics}`` of a notebook run (headline + the other protocol's extra)."""
    extra = rec.get("extra", {})
    masked = rec.get("params", {}).get("MASK_HISTORY", extra.get("mask_history", True))
    other = extra.get("test_history_unmasked" if masked else "test_history_masked")
    out = {"masked" if masked else "unmasked": rec["metrics"]}
    if other:
        out["unmasked" if masked else "masked"] = other
    return out


def collect(outputs: list[Path], records: list[Path]) -> dict:
    """Rows (per protocol: mean ± 95 % interval over seeds, each seed's numbers), curves and costs."""
    rows: dict[str, dict] = {}
    for root in outputs:
        for rec in _runs(root):
            row = rows.setdefault(rec["row"], {"seeds": {}, "status": [], "cpu_seconds": 0.0, "folders": []})
            seed = rec.get("params", {}).get("SEED", rec.get("seed", 0))
            key = str(seed) if rec["row"] != "MostPop" else f"mask={rec.get('params', {}).get('MASK_HISTORY', True)}"
            entry = row["seeds"].setdefault(key, {})
            extra = rec.get("extra", {})
            entry.update(_protocols(rec))
            entry.update({"best_epoch": extra.get("best_epoch"), "epochs_run": extra.get("epochs_run"),
                          "history": extra.get("history"), "status": rec.get("status", "completed")})
            row["status"].append(rec.get("status", "completed"))
            timings = rec.get("timings", {})
            total = float(timings.get("total", sum(v for v in timings.values() if isinstance(v, (int, float)))))
            # a resumed run's timings cover its last session only; its training seconds cover every session
            seconds = max(total, float(extra.get("train_seconds", 0.0)) + float(timings.get("evaluate", 0.0)))
            entry["cpu_seconds"] = entry.get("cpu_seconds", 0.0) + seconds
            row["cpu_seconds"] += seconds
            row["folders"].append(rec["folder"])
    for folder in records:
        for path in sorted(Path(folder).glob("*.json")):
            rec = json.loads(path.read_text())
            if "row" not in rec or "test_masked" not in rec:
                continue
            row = rows.setdefault(rec["row"], {"seeds": {}, "status": [], "cpu_seconds": 0.0, "folders": []})
            entry = {"masked": rec["test_masked"], "best_epoch": rec.get("best_epoch"),
                     "epochs_run": rec.get("epochs_run"), "history": rec.get("history")}
            if "test_unmasked" in rec:
                entry["unmasked"] = rec["test_unmasked"]
            row["seeds"][str(rec.get("seed", 0))] = entry
            row["status"].append(rec.get("status", "completed"))
            row["cpu_seconds"] += float(rec.get("cpu_seconds", rec.get("train_seconds", 0.0)))
            row["folders"].append(str(path))
    return summarize(rows)


def summarize(rows: dict) -> dict:
    """Each row's mean ± 95 % interval per protocol over its seeds, capped flag and CPU-hours (in place)."""
    for name, row in rows.items():
        for proto in ("unmasked", "masked"):
            per_seed = [s[proto] for s in row["seeds"].values() if proto in s]
            if per_seed and name != "MostPop":
                row[proto] = {m: _interval([s[m] for s in per_seed]) for m in METRICS if all(m in s for s in per_seed)}
            elif per_seed:  # MostPop: no seed; each protocol from its own run (both hold the same numbers)
                row[proto] = {m: (per_seed[0][m], 0.0) for m in METRICS if m in per_seed[0]}
        row["capped"] = any(s in NOT_CONVERGED for s in row["status"])
        row["cpu_hours"] = round(row["cpu_seconds"] / 3600, 3)
    return rows


def external_rows(path: Path) -> dict[str, dict]:
    """Rows another script measured, from a JSON object whose ``rows`` list holds entries in the keys of
    ``scientific.json``'s rows plus ``row`` (the name): ``metrics`` (history not masked), ``metrics_masked``,
    ``seeds``, ``status``, ``cpu_hours``. Means only (no per-seed numbers: no paired difference)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise SystemExit(f"{path}: expected a JSON object with a 'rows' list (bench/recformer_scientific_full.py write)")
    out = {}
    for i, entry in enumerate(data["rows"]):
        missing = [k for k in ("row", "metrics", "metrics_masked") if k not in entry]
        if missing:
            raise SystemExit(f"{path}: rows[{i}] lacks {missing}; each row needs 'row', 'metrics' (history not "
                             "masked) and 'metrics_masked'; rewrite it with bench/recformer_scientific_full.py write")
        status = str(entry.get("status", "done"))
        row = {"seeds": {}, "n_seeds": entry.get("seeds", 1), "status": [status],
               "cpu_seconds": 3600 * float(entry.get("cpu_hours", 0.0)), "folders": [str(path)],
               "capped": status in NOT_CONVERGED, "cpu_hours": entry.get("cpu_hours", 0.0),
               "source": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
               "measured_on": {k: v for k, v in entry.items() if k not in ("row", "metrics", "metrics_masked", "seeds",
                                                                         "status", "cpu_hours")}}
        for proto, key in (("unmasked", "metrics"), ("masked", "metrics_masked")):
            if entry[key]:
                row[proto] = {m: (float(entry[key][m]), 0.0) for m in METRICS if m in entry[key]}
        out[str(entry["row"])] = row
    return out


def keep_previous(rows: dict, previous: Path) -> dict[str, dict]:
    """Add to ``rows`` what an earlier ``scientific.json`` (its ``detail``) holds and this collect did not measure:
    whole rows, and single seeds of a row measured here for other seeds (e.g. seed 2023 run in an earlier session,
    2024/2025 now), so the means and paired differences cover every seed. Runs made in another checkout or session
    have no folder here; each kept row or seed names where it was kept from. Returns ``rows`` re-summarized."""
    if not previous or not previous.exists():
        return rows
    detail = json.loads(previous.read_text()).get("detail", {})
    name = str(previous.relative_to(ROOT) if previous.is_relative_to(ROOT) else previous)
    for row_name, rec in detail.items():
        if row_name not in rows:
            rows[row_name] = {**rec, "kept_from": rec.get("kept_from", name)}
            continue
        row = rows[row_name]
        if row.get("source"):  # another script's means: no seeds to merge
            continue
        old_seeds = rec.get("seeds", {})
        for seed, entry in old_seeds.items():
            if seed in row["seeds"]:
                continue
            # records written before per-seed status and seconds: the row's first status, an equal share of its seconds
            status = entry.get("status", (rec.get("status") or ["completed"])[0])
            seconds = entry.get("cpu_seconds", float(rec.get("cpu_seconds", 0.0)) / max(1, len(old_seeds)))
            row["seeds"][seed] = {**entry, "status": status, "cpu_seconds": seconds,
                                  "kept_from": entry.get("kept_from", name)}
            row["status"].append(status)
            row["cpu_seconds"] += seconds
            row.setdefault("kept_seeds", []).append(seed)
    return summarize(rows)


def paired(rows: dict, row: str, base: str = "SASRec", metric: str = "ndcg@10", proto: str = "unmasked"):
    """Mean and 95 % interval of ``row - base`` over the seeds both have (None without common seeds)."""
    d = paired_detail(rows, row, base, metric, proto)
    return (d["mean"], d["ci95"], d["n"]) if d else None


def paired_detail(rows: dict, row: str, base: str = "SASRec", metric: str = "ndcg@10",
                  proto: str = "unmasked") -> dict | None:
    """``row - base`` per common seed, their mean, the half-width of its 95 % t-interval and whether the interval
    excludes 0 (None without common seeds; with one seed there is no interval: half-width 0, not excluding 0)."""
    a, b = ({s: v[proto].get(metric) for s, v in rows.get(name, {}).get("seeds", {}).items() if proto in v}
            for name in (row, base))
    d = intervals.paired(a, b)
    if d and d["n"] < 2:
        d["ci95"] = 0.0
    return d


def markdown(rows: dict, machine: dict) -> str:
    lines = ["| row | protocol | seeds | NDCG@10 | Recall@10 | MRR | NDCG@50 | Recall@50 | published N@10 / R@10 | "
             "ratio N / R | status | wall h (1 thread) |", "|" + "---|" * 12]
    for name, row in sorted(rows.items()):
        for proto in ("unmasked", "masked"):
            if proto not in row:
                continue
            cells = [f"{row[proto][m][0]:.4f}" + (f" ± {row[proto][m][1]:.4f}" if row[proto][m][1] else "")
                     if m in row[proto] else "" for m in METRICS]
            pub = PUBLISHED.get(name, {})
            ref = f"{pub['ndcg@10']:.4f} / {pub['recall@10']:.4f}" if pub and proto == "unmasked" else ""
            ratio = (f"{row[proto]['ndcg@10'][0] / pub['ndcg@10']:.2f} / {row[proto]['recall@10'][0] / pub['recall@10']:.2f}"
                     if ref else "")
            counts = {st: row["status"].count(st) for st in sorted(set(row["status"]))}
            status = ", ".join(st if n == 1 or name == "MostPop" else f"{st} x{n}" for st, n in counts.items())
            status = f"capped ({status})" if row["capped"] and status != "capped" else status
            seeds = "-" if name == "MostPop" else len(row["seeds"]) or row.get("n_seeds", "-")
            lines.append(f"| {name} | history {'not ' if proto == 'unmasked' else ''}masked | {seeds} | "
                         + " | ".join(cells) + f" | {ref} | {ratio} | {status} | {row['cpu_hours']} |")
    sources = [f"{name}: {row['source']}" for name, row in sorted(rows.items()) if row.get("source")]
    kept = sorted({row["kept_from"] for row in rows.values() if row.get("kept_from")})
    if sources:
        lines += ["", "From other scripts' records (means, no per-seed numbers): " + "; ".join(sources) + "."]
    kept_seeds = sorted({s["kept_from"] for r in rows.values() for s in r["seeds"].values() if s.get("kept_from")})
    kept = sorted(set(kept) | set(kept_seeds))
    if kept:
        names = [n for n, r in rows.items() if r.get("kept_from")]
        names += [f"{n} (seed{'s' if len(r['kept_seeds']) > 1 else ''} {', '.join(sorted(r['kept_seeds']))})"
                  for n, r in rows.items() if r.get("kept_seeds") and not r.get("kept_from")]
        lines += ["", "Kept from " + ", ".join(kept) + " (runs made earlier, their folders not on this machine): "
                  + ", ".join(sorted(names)) + "."]
    return "\n".join(lines)


def paired_markdown(paired_rows: dict) -> str:
    """Per-seed differences against SASRec, their mean and 95 % t-interval, and whether it excludes 0."""
    lines = ["| row - SASRec | protocol | metric | per seed | mean ± 95 % (t, n-1 df) | excludes 0 |", "|" + "---|" * 6]
    for row, by_proto in paired_rows.items():
        for proto, by_metric in by_proto.items():
            for metric, d in by_metric.items():
                if not d:
                    continue
                seeds = ", ".join(f"{s}: {v:+.4f}" for s, v in d["per_seed"].items())
                verdict = VERDICTS[intervals.direction(d)]
                lines.append(f"| {row} | history {'not ' if proto == 'unmasked' else ''}masked | {metric} | {seeds} | "
                             f"{d['mean']:+.4f} ± {d['ci95']:.4f} | {verdict} |")
    return "\n".join(lines)


BEGIN, END = "<!-- collect: rows -->", "<!-- /collect: rows -->"


def write_tables(md: Path, table: str) -> bool:
    """Replace the text between ``BEGIN`` and ``END`` in ``md`` (the prose around them stays); False if absent."""
    if not md.exists() or BEGIN not in (text := md.read_text()) or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    md.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}")
    return True


def run_collect(args: argparse.Namespace) -> dict:
    outputs = [Path(p) for p in (args.outputs or [ROOT / "outputs" / "scientific"])]
    out = Path(args.out).with_suffix(".json")
    rows = collect(outputs, [Path(p) for p in args.records])
    recformer = Path(args.recformer_rows) if args.recformer_rows else out.parent / RECFORMER_ROWS.name
    rows.update({k: v for k, v in external_rows(recformer).items() if k not in rows})  # per-seed records win
    previous = Path(args.keep) if args.keep is not None else out
    rows = keep_previous(rows, previous) if str(previous) else rows
    machine = environment("cpu")
    diffs = {r: {p: paired(rows, r, proto=p) for p in ("unmasked", "masked")} for r in rows if r not in ("SASRec", "MostPop")}
    paired_rows = {r: {p: {m: paired_detail(rows, r, metric=m, proto=p) for m in PAIRED_METRICS}
                       for p in ("unmasked", "masked")} for r in sorted(rows) if r not in ("SASRec", "MostPop")}
    paired_rows = {r: v for r, v in paired_rows.items() if any(d for by_m in v.values() for d in by_m.values())}

    def ratio(row: dict, name: str) -> dict:
        pub = PUBLISHED.get(name, {})
        return {m: row["unmasked"][m][0] / v for m, v in pub.items() if m in row.get("unmasked", {})}

    record = {"bench": "scientific", "data": "recformer:../shared/data/recformer_scientific_full (11,041 users, 5,327 items)",
              "rows": {name: {"metrics": {m: v[0] for m, v in row.get("unmasked", {}).items()},
                              "metrics_masked": {m: v[0] for m, v in row.get("masked", {}).items()},
                              "seeds": len(row["seeds"]) or row.get("n_seeds", 0), "status": "capped" if row["capped"]
                              else (row["status"][0] if row["status"] else "completed"), "cpu_hours": row["cpu_hours"],
                              **({"published": PUBLISHED[name], "ratio_unmasked": ratio(row, name)}
                                 if name in PUBLISHED else {})}
                       for name, row in rows.items()},
              "detail": rows, "paired_vs_sasrec": paired_rows, "paired_vs_sasrec_ndcg@10": diffs, "machine": machine}
    write_json(out, record)
    tables = markdown(rows, machine) + "\n\nPaired with SASRec over common seeds:\n\n" + paired_markdown(paired_rows)
    if write_tables(out.with_suffix(".md"), tables):
        print(f"tables -> {out.with_suffix('.md')}")
    print(tables)
    return record


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("sasrec", "mostpop", "learn-vectors", "collect"))
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--smoke", action="store_true", help="a tiny synthetic folder, a tiny model (tests, GPU smoke)")
    ap.add_argument("--set", default="", help='JSON of notebook-06 parameters over params/scientific, e.g. {"LOSS": "bce"}')
    ap.add_argument("--out-dir", default=str(ROOT / "outputs" / "scientific_bench"))
    ap.add_argument("--outputs", action="append", help="outputs root(s) of notebook runs to collect")
    ap.add_argument("--records", action="append", default=[], help="folder(s) of this script's JSON records to collect")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scientific.json"))
    ap.add_argument("--recformer-rows", default="", help="collect: Recformer's rows (default: recformer_scientific_full.json "
                    "beside --out, when it exists)")
    ap.add_argument("--keep", default=None, help="collect: an earlier scientific.json whose rows this collect did not "
                    "measure are kept (default: --out itself; '' keeps none)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.data = str(write_smoke_folder(Path(args.out_dir) / "smoke_data"))
    elif args.command != "collect" and not Path(args.data).exists():
        raise SystemExit(f"{args.data}: the Scientific folder is absent (see ../shared/data/README.md)")
    return {"sasrec": run_sasrec, "mostpop": run_mostpop, "learn-vectors": run_learn_vectors,
            "collect": run_collect}[args.command](args)


if __name__ == "__main__":
    main()
