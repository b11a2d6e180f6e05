"""RLMRec's Yelp split run to its early stop on CPU: collect the runs into bench/results/rlmrec_yelp.{json,md,png}.

The runs are notebooks 10-15 with the released schedule (``params/rlmrec_yelp``: validation Recall@20 every 3
epochs, patience 5, best state tested once), each in its own run folder, e.g. the plain backbones::

    LMREC_OUTPUTS=outputs/rlmrec_yelp OMP_NUM_THREADS=1 python -m lmrec run 11 13 --params params/rlmrec_yelp \\
        --params <overlay keeping the ALIGNMENT none rows> --set DATASET=rlmrec:../shared/data/rlmrec_yelp \\
        --set TIME_LIMIT_S=3600

A run stopped by ``TIME_LIMIT_S`` is ``capped``; the same command resumes it from its checkpoint. This script
only reads the run folders (``metrics.json``, ``history.json``) and compares them with the references:
released-code test numbers from ``lmrec/run/references.yaml`` and the validation numbers at a given epoch of
runs of the released code that were cut before their stop (:data:`VALID_REFERENCES`). Further ``--outputs``
folders (e.g. a diagnostic run with patience off, ``--set PATIENCE=1000``) only serve the validation-at-an-epoch
comparison when the released-schedule run stopped before that epoch.

Usage: python bench/rlmrec_yelp.py [--outputs outputs/rlmrec_yelp [--outputs <more>]] [--out bench/results/rlmrec_yelp]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lmrec.run.reproduction import dataset_name, load_references

ROOT = Path(__file__).resolve().parents[1]
SPLIT_NAMES = ("rlmrec:rlmrec_yelp", "rlmrec:yelp")
# Runs of HKUDS/RLMRec's code on this split (its yelp configuration, seed 2023, one H100) that were cut before
# their early stop: validation Recall@20 / NDCG@20 at the epoch given (source: issue 13 of this repository).
VALID_REFERENCES = {
    "LightGCN": {"epoch": 144, "recall@20": 0.1135, "ndcg@20": 0.0724},
    "SGL": {"epoch": 81, "recall@20": 0.1162, "ndcg@20": 0.0742},
    "GCCF": {"epoch": 321, "recall@20": 0.1171, "ndcg@20": 0.0739},
}
KS = (5, 10, 20)


def collect(outputs: Path) -> list[dict]:
    """One record per finished or capped run of notebooks 10-15 on the Yelp split under ``outputs/runs``
    (its ``folder`` relative to ``outputs``' parent, so records of several outputs folders stay apart)."""
    records = []
    for metrics_file in sorted((outputs / "runs").glob("1[0-5]_*/*/metrics.json")):
        rec = json.loads(metrics_file.read_text())
        if dataset_name(rec["params"].get("DATASET")) not in SPLIT_NAMES:
            continue
        history_file = metrics_file.with_name("history.json")
        history = json.loads(history_file.read_text()) if history_file.exists() else []
        training = rec["extra"]
        records.append({
            "notebook": rec["notebook"], "row": rec["row"], "alignment": rec["params"].get("ALIGNMENT", "none"),
            "status": rec["status"], "best_epoch": training.get("best_epoch"), "epochs_run": training.get("epochs_run"),
            "train_seconds_last_session": training.get("train_seconds"), "resumed_from": training.get("resumed_from"),
            "test": {k: v for k, v in rec["metrics"].items() if k.startswith(("recall@", "ndcg@"))},
            "valid_curve": [(r["epoch"], r["valid_recall@20"], r["valid_ndcg@20"]) for r in history
                            if "valid_recall@20" in r],
            "folder": str(metrics_file.parent.relative_to(outputs.parent)), "patience": rec["params"].get("PATIENCE"), "git_commit": rec.get("git_commit"),
            "finished_at": rec.get("finished_at"),
        })
    return records


def valid_at(curve: list[tuple[int, float, float]], epoch: int) -> tuple[int, float, float] | None:
    """The last validation at or before ``epoch`` (None when the run has not reached it)."""
    before = [row for row in curve if row[0] <= epoch]
    return before[-1] if before and curve[-1][0] >= epoch else None


def compare(records: list[dict], diagnostics: list[dict] | None = None) -> list[dict]:
    """Each reference beside the plain run of the same backbone, with the ratio; a validation reference at an
    epoch the run did not reach is read from a ``diagnostics`` run of that backbone that did, if any."""
    out = []
    plain = {r["row"]: r for r in records if r["alignment"] == "none"}
    longer = {r["row"]: r for r in (diagnostics or []) if r["alignment"] == "none"}
    for ref in load_references():
        # the released code's numbers; the paper's table is the reproduction table's (its rows read this record)
        if ref.paper != "RLMRec" or ref.kind != "released-code" or not set(ref.dataset) & set(SPLIT_NAMES):
            continue
        run = plain.get(ref.row)
        ours = run["test"].get(ref.metric) if run else None
        out.append({"row": ref.row, "what": f"test {ref.metric} ({ref.kind})", "reference": ref.value,
                    "lmrec": ours, "ratio": None if ours is None else round(ours / ref.value, 4),
                    "status": run["status"] if run else "not run"})
    for row, ref in VALID_REFERENCES.items():
        run = plain.get(row)
        at = valid_at(run["valid_curve"], ref["epoch"]) if run else None
        source = "released schedule"
        if at is None and row in longer:
            run, source = longer[row], f"diagnostic run, PATIENCE={longer[row]['patience']}"
            at = valid_at(run["valid_curve"], ref["epoch"])
        for i, metric in ((1, "recall@20"), (2, "ndcg@20")):
            ours = at[i] if at else None
            out.append({"row": row, "what": f"valid {metric} at epoch {ref['epoch']} (released code, cut run; ours: "
                                            f"{source})",
                        "reference": ref[metric], "lmrec": ours, "ratio": None if ours is None else
                        round(ours / ref[metric], 4), "status": run["status"] if run else "not run",
                        "our_epoch": at[0] if at else None})
    return out


def table_rows(records: list[dict]) -> dict[str, dict]:
    """The reproduction table's view of the record (lmrec.run.reproduction ``result``): one entry per table row
    (``LightGCN``, ``LightGCN+Con`` ...) with its test metrics, seed count and status."""
    suffix = {"none": "", "con": "+Con", "gen": "+Gen"}
    return {r["row"] + suffix.get(r.get("alignment", "none"), "") if "+" not in r["row"] else r["row"]:
            {"metrics": r["test"], "seeds": 1, "status": r["status"]} for r in records}


def markdown(records: list[dict], comparison: list[dict]) -> str:
    head = "| backbone | variant | status | best epoch | epochs run | " + " | ".join(
        f"R@{k} | N@{k}" for k in KS) + " |\n|" + "---|" * (5 + 2 * len(KS)) + "\n"
    rows = "".join(
        f"| {r['row']} | {r['alignment']} | {r['status']} | {r['best_epoch']} | {r['epochs_run']} | "
        + " | ".join(f"{r['test'].get(f'recall@{k}', float('nan')):.4f} | {r['test'].get(f'ndcg@{k}', float('nan')):.4f}"
                     for k in KS) + " |\n" for r in records)
    comp = "| backbone | number | reference | lmrec | ratio | run status |\n|---|---|---|---|---|---|\n"
    for c in comparison:
        what = c["what"] if c.get("our_epoch") is None else f"{c['what'][:-1]}, epoch {c['our_epoch']})"
        ours = "-" if c["lmrec"] is None else f"{c['lmrec']:.4f}"
        ratio = "-" if c["ratio"] is None else f"{c['ratio']:.3f}"
        comp += f"| {c['row']} | {what} | {c['reference']:.4f} | {ours} | {ratio} | {c['status']} |\n"
    return ("## Test at the best validation state\n\n" + head + rows + "\n## Against the released code\n\n" + comp)


def plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in records:
        if r["valid_curve"]:
            epochs, recall, _ = zip(*r["valid_curve"])
            ax.plot(epochs, recall, label=f"{r['row']} ({r['alignment']}, {r['status']})")
    for row, ref in VALID_REFERENCES.items():
        ax.scatter([ref["epoch"]], [ref["recall@20"]], marker="x", label=f"{row}, released code (cut run)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation Recall@20")
    ax.set_title("RLMRec's Yelp split, released schedule, CPU")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", type=Path, action="append", help="repeatable; the first holds the released-schedule "
                    "runs (default outputs/rlmrec_yelp), the others diagnostic runs")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rlmrec_yelp")
    args = ap.parse_args(argv)
    roots = args.outputs or [ROOT / "outputs" / "rlmrec_yelp"]
    records = collect(roots[0])
    if not records:
        raise SystemExit(f"{roots[0]}/runs holds no run of notebooks 10-15 on {SPLIT_NAMES}; run them first "
                         "(see this script's docstring)")
    diagnostics = [r for root in roots[1:] for r in collect(root)]
    comparison = compare(records, diagnostics)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"runs": records, "diagnostic_runs": diagnostics,
                                                         "comparison": comparison, "rows": table_rows(records)},
                                                        indent=1) + "\n")
    print(markdown(records, comparison))
    plot(records, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
