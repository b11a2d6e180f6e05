"""Is it the LLM or just the text? Issue 24 part 4: the paired table of params/llm_ablations.

LightGCN+Con (notebook 11) and LLMRec full (notebook 21) trained on three sources of their LLM-derived vectors
(:mod:`lmrec.llm.controls`): ``generated`` (a: the LLM's), ``raw`` (b: the nodes' own text, no LLM), ``shuffled``
(c: the LLM's vectors across nodes), beside the model without them (``plain``: LightGCN; LLMRec's base model), over
the same training seeds on one split. ``collect`` reads the runs the params set plans (their run folders, nothing is
trained) and writes, per method, each arm's mean ± 95 % t-interval over seeds and the PAIRED per-seed differences
a-b, a-c, a-plain (mean ± 95 % t-interval of the differences over the seeds both arms ran):

    python -m lmrec run 01 02 11 20 21 --params params/default --params params/llm_ablations
    python bench/llm_ablations.py collect          # -> bench/results/llm_ablations.md and .json

``--params`` (repeatable) picks another params set (e.g. the smoke proof's, see params/llm_ablations/smoke) and
``--out`` another output stem.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PARAMS = [REPO / "params" / "default", REPO / "params" / "llm_ablations"]
DEFAULT_OUT = REPO / "bench" / "results" / "llm_ablations"
METRICS = ("recall@20", "ndcg@20")
ARM_ORDER = ("generated", "raw", "shuffled", "plain", "gen")
# (method, arm a, arm b): the paired differences each method reports
PAIRS = (("generated", "raw"), ("generated", "shuffled"), ("generated", "plain"), ("raw", "plain"),
         ("shuffled", "plain"), ("gen", "plain"))
ARM_TEXT = {"generated": "(a) LLM products", "raw": "(b) own text, no LLM", "shuffled": "(c) LLM vectors shuffled",
            "plain": "without them", "gen": "+Gen, LLM products"}
# lmrec.eval.intervals.direction of a pair -> its verdict, and the verdict's mark in the table
VERDICTS = {1: "a > b", -1: "a < b", 0: "no difference shown", None: "n < 2"}
MARKS = {"a > b": " ▲", "a < b": " ▼", "no difference shown": "", "n < 2": ""}
NOTEBOOK_METHOD = {"11_lightgcn": "LightGCN+Con", "21_llmrec_train": "LLMRec"}


@dataclass
class Observation:
    """One finished run: which method and arm, its training seed, its test metrics."""

    method: str
    arm: str
    seed: int
    metrics: dict[str, float]
    folder: str = ""
    status: str = "done"
    caption: str = ""


def arm_of(notebook: str, params: dict[str, Any]) -> tuple[str, str] | None:
    """``(method, arm)`` of a planned run from its resolved parameters (notebook defaults + the plan's values);
    ``None`` for a run that is no arm of the ablation."""
    if notebook == "11_lightgcn":
        if params.get("TABLE", "rlmrec") != "rlmrec":
            return None
        alignment, source = params.get("ALIGNMENT"), params.get("PROFILE_SOURCE", "generated")
        if alignment == "none":
            return NOTEBOOK_METHOD[notebook], "plain"
        if alignment == "gen" and source == "generated":
            return NOTEBOOK_METHOD[notebook], "gen"
        if alignment == "con" and source in ("generated", "raw", "shuffled"):
            return NOTEBOOK_METHOD[notebook], source
        return None
    if notebook == "21_llmrec_train":
        variant, source = params.get("VARIANT"), params.get("TEXT_SOURCE", "generated")
        if variant == "base":
            return NOTEBOOK_METHOD[notebook], "plain"
        if variant == "full":
            return NOTEBOOK_METHOD[notebook], source
    return None


def summarize(observations: list[Observation], metrics: tuple[str, ...] = METRICS) -> dict[str, Any]:
    """Per method: each arm's seeds, per-seed values, mean and interval half-width; each pair's per-seed
    differences over the seeds BOTH arms ran (a run's later duplicate of a seed replaces the earlier)."""
    from lmrec.eval.intervals import direction, mean_ci, paired

    out: dict[str, Any] = {}
    by_method: dict[str, dict[str, dict[int, Observation]]] = {}
    for ob in observations:
        by_method.setdefault(ob.method, {}).setdefault(ob.arm, {})[int(ob.seed)] = ob
    for method, arms in by_method.items():
        entry: dict[str, Any] = {"arms": {}, "paired": {}}
        for arm in sorted(arms, key=lambda a: ARM_ORDER.index(a) if a in ARM_ORDER else len(ARM_ORDER)):
            runs = arms[arm]
            seeds = sorted(runs)
            entry["arms"][arm] = {"seeds": seeds, "folders": [runs[s].folder for s in seeds],
                                  "statuses": [runs[s].status for s in seeds],
                                  "caption": runs[seeds[0]].caption if seeds else ""}
            for m in metrics:
                values = {s: float(runs[s].metrics[m]) for s in seeds if runs[s].metrics.get(m) is not None}
                mean, half = mean_ci(list(values.values()))
                entry["arms"][arm][m] = {"mean": mean, "ci95": half, "values": values}
        for a, b in PAIRS:
            if a not in arms or b not in arms:
                continue
            pair: dict[str, Any] = {}
            for m in metrics:
                d = paired(entry["arms"][a][m]["values"], entry["arms"][b][m]["values"]) or \
                    {"per_seed": {}, "mean": math.nan, "ci95": math.nan, "n": 0}  # no seed in common
                pair[m] = {"mean": d["mean"], "ci95": d["ci95"], "n": d["n"], "diffs": d["per_seed"],
                           "verdict": VERDICTS[direction(d)]}
            entry["paired"][f"{a} - {b}"] = pair
        out[method] = entry
    return out


def _fmt(mean: float, half: float, digits: int = 4, signed: bool = False) -> str:
    if mean is None or math.isnan(mean):
        return ""
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    return text if math.isnan(half) else f"{text} ± {half:.{digits}f}"


def to_markdown(summary: dict[str, Any], metrics: tuple[str, ...] = METRICS) -> str:
    """Two tables per method: arms (mean ± 95 % t-interval over seeds) and paired differences."""
    lines: list[str] = []
    for method, entry in summary.items():
        lines += [f"### {method}", "", "| arm | " + " | ".join(metrics) + " | seeds |",
                  "|---|" + "---:|" * len(metrics) + "---:|"]
        for arm, rec in entry["arms"].items():
            cells = [_fmt(rec[m]["mean"], rec[m]["ci95"]) for m in metrics]
            lines.append(f"| {arm}: {ARM_TEXT.get(arm, arm)} | " + " | ".join(cells) + f" | {len(rec['seeds'])} |")
        lines += ["", "| paired difference (a - b) | " + " | ".join(metrics) + " | seeds |",
                  "|---|" + "---:|" * len(metrics) + "---:|"]
        for name, pair in entry["paired"].items():
            cells = [(_fmt(pair[m]["mean"], pair[m]["ci95"], signed=True) + MARKS[pair[m]["verdict"]]) for m in metrics]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {pair[metrics[0]]['n']} |")
        lines.append("")
    return "\n".join(lines)


def observations_from_plan(params_sources: list[str | Path]) -> tuple[list[Observation], list[str]]:
    """The finished runs of the params set's plan for notebooks 11 and 21 (read from their run folders) and the
    names of the planned arm runs that have no ``metrics.json`` yet."""
    from lmrec.defaults import literal_defaults
    from lmrec.run.plan import build_plan, load_params
    from lmrec.run.runner import run_folder

    plan = build_plan(list(NOTEBOOK_METHOD), load_params(list(params_sources)))
    observations, missing = [], []
    defaults: dict[str, dict[str, Any]] = {}
    for run in plan:
        if run.notebook not in defaults:
            defaults[run.notebook] = literal_defaults(run.path)
        arm = arm_of(run.notebook, {**defaults[run.notebook], **run.params})
        if arm is None:
            continue
        metrics_file = run_folder(run) / "metrics.json"
        if not metrics_file.exists():
            missing.append(run.name)
            continue
        record = json.loads(metrics_file.read_text())
        seed = int(run.params.get("SEED", defaults[run.notebook].get("SEED")))
        observations.append(Observation(arm[0], arm[1], seed, record.get("metrics") or {}, str(metrics_file.parent),
                                        record.get("status") or "done", record.get("caption") or ""))
    return observations, missing


def _machine() -> dict[str, str]:
    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    cpu = next((line.split(":", 1)[1].strip() for line in out(["lscpu"]).splitlines()
                if line.startswith("Model name")), "")
    return {"cpu": cpu, "cores": str(os.cpu_count()), "load_average": out(["uptime"]),
            "commit": out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])}


def collect(params_sources: list[str | Path], out: Path, command: str) -> dict[str, Any]:
    """Read the runs, write ``<out>.json`` (everything, per-seed values included) and ``<out>.md``; returns the
    JSON record."""
    from lmrec.utils import atomic_path

    observations, missing = observations_from_plan(params_sources)
    summary = summarize(observations)
    record = {"command": command, "params": [str(Path(p).resolve().relative_to(REPO)) if Path(p).resolve()
                                             .is_relative_to(REPO) else str(p) for p in params_sources],
              "outputs": os.environ.get("LMREC_OUTPUTS", str(REPO / "outputs")),
              "collected_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": _machine(), "missing_runs": missing, "metrics": list(METRICS), "methods": summary}
    notes = [f"Collected {record['collected_at']} by `{command}` from the runs of "
             f"{' + '.join(record['params'])} (commit {record['machine']['commit']}; {record['machine']['cpu']}, "
             f"{record['machine']['cores']} cores; {record['machine']['load_average']}).",
             "Arms: mean ± 95 % t-interval over training seeds on one split. Paired: per-seed differences a - b over "
             "the seeds both arms ran, mean ± 95 % t-interval; ▲ / ▼: a > b / a < b (the interval excludes 0)."]
    if missing:
        notes.append(f"Not run yet ({len(missing)}): " + ", ".join(missing))
    captions = [f"- {m}, {arm}: {rec['caption']}" for m, e in summary.items() for arm, rec in e["arms"].items()
                if arm == "generated" and rec["caption"]]
    text = "\n\n".join(notes) + "\n\n" + to_markdown(summary) + ("\nCaptions of the generated arms (first seed):\n\n"
                                                                + "\n".join(captions) + "\n" if captions else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")
    with atomic_path(out.with_suffix(".md")) as tmp:
        tmp.write_text(f"# LLM or just the text? (issue 24, part 4)\n\n{text}")
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("collect", help="read the runs of the params set, write the paired table")
    p.add_argument("--params", "-p", action="append", default=[],
                   help="YAML file or folder, repeatable (default: params/default + params/llm_ablations)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output stem: <out>.md and <out>.json")
    args = ap.parse_args(argv)
    command = "python bench/llm_ablations.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record = collect(args.params or DEFAULT_PARAMS, Path(args.out), command)
    print(Path(args.out).with_suffix(".md").read_text())
    return 0 if record["methods"] else 1


if __name__ == "__main__":
    sys.exit(main())
