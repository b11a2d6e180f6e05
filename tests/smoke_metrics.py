"""The expected metrics of the notebook smoke runs and the tolerances they are checked with.

``tests/expected_smoke_metrics.json`` holds, per smoke run (``<notebook>/<label>``, the run folder's name less its
hash), the metrics its ``metrics.json`` recorded; ``tests/test_notebooks.py`` runs the smoke plan and compares every
run's metrics with the table within the :data:`RULES` below (as microsoft/recommenders does for its notebooks).

Regenerate the table after a change that moves a smoke metric on purpose (review the diff before committing it):

    make expected-metrics                                  # runs the smoke plan in a temporary folder (~8 min)
    python -m tests.smoke_metrics --from outputs/smoke     # or read the runs of a smoke run already made there

``--check --from DIR`` compares the smoke runs found under DIR with the table instead (runs not there are left out):
a quick check of a few notebooks, e.g. after ``LMREC_OUTPUTS=DIR python -m lmrec run 11 --params params/smoke``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
TABLE = Path(__file__).with_name("expected_smoke_metrics.json")
REGENERATE = "make expected-metrics"


@dataclass(frozen=True)
class Rule:
    """How the metrics whose notebook matches ``notebooks`` and whose name matches one of ``metrics`` (globs) are
    compared: ``rel``/``abs`` as in :func:`math.isclose`; ``rel=None``: not compared (the reason says why)."""

    notebooks: str
    metrics: tuple[str, ...]
    rel: float | None
    abs: float
    reason: str


# First match wins. Both CPU kinds must pass: native bf16 (AVX512-BF16/AMX; the LLMs decode in bf16) and float32-only
# (AVX2; emulated with ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2).
# Measured (bench/results/smoke_metrics.md): the same commit's smoke runs on both kinds differ only where a dense
# float32 model computes (the MiniLM targets of the con alignment runs, Recformer), by at most 0.0084 of a value and
# 0.00083 absolute (elsewhere by under 1e-6); 28 of the 37 runs are equal to the last digit.
RULES: tuple[Rule, ...] = (
    Rule("*", ("*_s", "*per_s", "*per_cpu_s"), None, 0, "a wall/CPU time or a throughput"),
    Rule("*", ("cost_usd",), None, 0, "zero for the local LLM; a price list otherwise"),
    Rule("0[05]_*", ("*",), 1e-9, 0, "counts and exact sums: no training, no floating-point reduction order"),
    Rule("90_*", ("*",), 0, 0, "counts of runs and tables"),
    Rule("02_*", ("calls", "cache_hits", "failures", "dim"), 0, 0, "counts of texts embedded and the model's width"),
    # The LLM stages (01: SmolLM2 on 4 prompts; 20: a tiny random LM on 4 profiles, 4 items, 32 pair choices) decode
    # in bf16 on native-bf16 CPUs and in float32 elsewhere: a near-tie can turn one answer (its length, cut, parse,
    # choice). Equal on both kinds when measured; one answer's (or two choices') worth is allowed, all failing is not.
    Rule("01_*", ("requests", "cache_hits"), 0, 0, "what was asked: fixed by N_ITEMS and N_USERS"),
    Rule("01_*", ("failure_rate",), 0, 0.25, "one of the 4 answers"),
    Rule("01_*", ("*_coverage",), 0.5, 0, "one of the 2 items' or 2 users' answers"),
    Rule("01_*", ("*",), 0.25, 1, "the decoded text: one of the 4 answers (a count by 1, tokens by a quarter)"),
    Rule("20_*", ("profiles_failure_rate", "attributes_failure_rate"), 0, 0.25, "one of the 4 answers"),
    Rule("20_*", ("users_with_profile", "items_with_attributes"), 0, 1, "one of the 4 answers"),
    Rule("20_*", ("pairs_*",), 0, 2.1 / 32, "two of the 32 users' pair choices"),
    Rule("20_*", ("users_with_pair",), 0, 2, "two of the 32 users' pair choices"),
    Rule("3[01]_*", ("recall@*",), 0, 0.026, "40 test users: one user's hit moves recall@K by 0.025 (mrr and ndcg, "
         "which move by less, keep the default)"),
    Rule("*", ("*",), 0.05, 0.0025, "trained: float32 sums in another order (AVX2 vs AVX512, another thread count) "
         "move a metric by under 1 % (6x margin) or by a test user or two (1/943 each); a halved quality is outside"),
)


def rule_for(notebook: str, metric: str) -> Rule:
    return next(r for r in RULES if fnmatch.fnmatchcase(notebook, r.notebooks)
                and any(fnmatch.fnmatchcase(metric, m) for m in r.metrics))


def run_key(notebook: str, label: str) -> str:
    """A smoke run's row in the table: ``<notebook>/<label>`` (the run folder's name without its hash, which changes
    whenever any default of the notebook does)."""
    return f"{notebook}/{label}" if label else notebook


def load_table(path: Path = TABLE) -> dict[str, dict[str, float]]:
    """The expected metrics per run key (empty when the table does not exist yet)."""
    if not path.exists():
        return {}
    return json.loads(path.read_text())["runs"]


def compared(notebook: str, metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics the table keeps for a run: those a rule compares."""
    return {k: float(v) for k, v in sorted(metrics.items()) if rule_for(notebook, k).rel is not None}


def _close(got: float, want: float, rule: Rule) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return math.isclose(got, want, rel_tol=rule.rel or 0.0, abs_tol=rule.abs)


def compare(notebook: str, key: str, got: dict[str, Any], expected: dict[str, float] | None) -> list[str]:
    """One line per metric of run ``key`` outside its tolerance, missing, or not in the table."""
    if expected is None:
        return [f"{key}: no expected metrics in {TABLE.name}; after checking the run, regenerate with `{REGENERATE}`"]
    observed = compared(notebook, got)
    problems = []
    for metric in sorted(set(expected) | set(observed)):
        rule = rule_for(notebook, metric)
        if rule.rel is None:
            continue
        if metric not in observed:
            problems.append(f"{key}: {metric} expected {expected[metric]:.6g}, missing from metrics.json")
        elif metric not in expected:
            problems.append(f"{key}: {metric}={observed[metric]:.6g} is not in {TABLE.name}; regenerate with `{REGENERATE}`")
        elif not _close(observed[metric], expected[metric], rule):
            problems.append(f"{key}: {metric} expected {expected[metric]:.6g}, got {observed[metric]:.6g} "
                            f"(tolerance rel {rule.rel:g}, abs {rule.abs:g}: {rule.reason})")
    return problems


def smoke_plan() -> list:
    from lmrec.run.plan import build_plan, load_params

    return build_plan([], load_params([REPO_ROOT / "params" / "smoke"]))


def collect(plan: list, runs: Path) -> dict[str, dict[str, float]]:
    """The compared metrics of every run of ``plan`` found under ``runs`` (``<runs>/<run name>/metrics.json``)."""
    table: dict[str, dict[str, float]] = {}
    for run in plan:
        key = run_key(run.notebook, run.label)
        if key in table:
            raise SystemExit(f"two smoke runs share the key {key!r}: give them labels that differ")
        path = runs / run.name / "metrics.json"
        if not path.exists():
            raise SystemExit(f"{path}: missing; the smoke run {run.name} did not finish (run it first)")
        table[key] = compared(run.notebook, json.loads(path.read_text())["metrics"])
    return table


def write_table(table: dict[str, dict[str, float]], runs: Path) -> Path:
    from lmrec.run.context import git_commit
    from lmrec.utils import write_json

    env_files = sorted(runs.glob("*/*/env.json"))
    kernel = json.loads(env_files[0].read_text()).get("kernel", {}) if env_files else {}
    record = {
        "about": "expected metrics of the smoke runs (tests/test_notebooks.py); tolerances in tests/smoke_metrics.py; "
                 f"regenerate with `{REGENERATE}`",
        "generated": {"at": datetime.now(UTC).isoformat(timespec="seconds"), "git_commit": git_commit(),
                      "cpu_capability": kernel.get("cpu_capability")},
        "runs": table,
    }
    write_json(TABLE, record)
    return TABLE


def check(plan: list, runs: Path) -> int:
    """Compare every run of ``plan`` found under ``runs`` with the table; print the differences."""
    table, problems, found = load_table(), [], 0
    for run in plan:
        path = runs / run.name / "metrics.json"
        if path.exists():
            found += 1
            key = run_key(run.notebook, run.label)
            problems += compare(run.notebook, key, json.loads(path.read_text())["metrics"], table.get(key))
    print("\n".join(problems) or f"{found} smoke run(s) under {runs} match {TABLE.name}")
    return 1 if problems or not found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.smoke_metrics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="an outputs folder (LMREC_OUTPUTS) holding a finished smoke run; default: run it now")
    parser.add_argument("--check", action="store_true",
                        help="compare the runs under --from with the table (exit 1 on a difference) instead of rewriting it")
    args = parser.parse_args(argv)
    if args.check and args.source is None:
        parser.error("--check needs --from DIR")
    if args.source is None:
        os.environ["LMREC_OUTPUTS"] = tempfile.mkdtemp(prefix="lmrec-expected-metrics-")
        os.environ.setdefault("LMREC_MODELS_DIR", str(REPO_ROOT / "outputs" / "cache" / "models"))  # as the tests do
    else:
        os.environ["LMREC_OUTPUTS"] = str(args.source.resolve())
    from lmrec.paths import runs_dir
    from lmrec.run.runner import run_plan

    plan = smoke_plan()
    if args.check:
        return check(plan, runs_dir())
    if args.source is None:
        failed = [o for o in run_plan(plan, force=True) if o.status == "failed"]
        if failed:
            print(f"{len(failed)} smoke run(s) failed; the table is left as it was", file=sys.stderr)
            return 1
    path = write_table(collect(plan, runs_dir()), runs_dir())
    print(f"wrote {path} ({len(plan)} runs) from {runs_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
