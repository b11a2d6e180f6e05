"""Kernel start-up per notebook run: what `python -m lmrec run` spends on a run beyond the notebook's own seconds.

For each checkout given (default: this repository), alternating for ``--rounds`` rounds: the wall of
``python -m lmrec run NOTEBOOKS --params P --force`` less the wall of ``python -m lmrec plan`` with the same
arguments (the command's own start-up and planning) less the notebooks' own seconds (``timings.total`` of each
run's ``metrics.json``: from ``start_run`` to ``run.finish``), divided by the number of runs. What remains is kernel
start, the first cell's imports, papermill's bookkeeping and the kernel's shut-down. Every checkout shares this
repository's virtual environment and one outputs folder (the datasets are built once, in a warm-up run).

    .venv/bin/python bench/kernel_startup.py                                      # this checkout
    git worktree add --detach /tmp/base 2c76a22
    .venv/bin/python bench/kernel_startup.py --checkout /tmp/base --checkout .    # before / after

Prints one Markdown row per measurement with the load average before and after (record it with the result).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lmrec(checkout: Path, outputs: Path, args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(checkout / "lib"), "LMREC_OUTPUTS": str(outputs),
           "LMREC_MODELS_DIR": os.environ.get("LMREC_MODELS_DIR", str(REPO / "outputs" / "cache" / "models"))}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lmrec", *args], cwd=checkout, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: lmrec {' '.join(args)} failed (rc {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, done.stdout


def own_seconds(outputs: Path, summary: str) -> tuple[int, float]:
    """The number of runs the summary lists as done and the sum of their notebooks' own seconds."""
    names = [m.group(1) for m in re.finditer(r"^(\S+/\S+)\s+done\s", summary, re.M)]
    total = sum(json.loads((outputs / "runs" / n / "metrics.json").read_text())["timings"]["total"] for n in names)
    return len(names), total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", action="append", type=Path, default=[], help="a checkout of lmrec (repeatable)")
    parser.add_argument("--notebooks", nargs="+", default=["05", "10", "11"])
    parser.add_argument("--params", default="params/smoke")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkout] or [REPO]
    outputs = Path(tempfile.mkdtemp(prefix="lmrec-kernel-startup-"))
    common = [*args.notebooks, "--params", args.params]
    lmrec(checkouts[0], outputs, ["run", *common])  # warm-up: datasets and caches built once
    print("| checkout | round | runs | wall s | plan s | notebooks' own s | start-up per run s | load before / after |")
    print("|---|---|---|---|---|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        for checkout in checkouts:
            load = os.getloadavg()[0]
            plan_s, _ = lmrec(checkout, outputs, ["plan", *common])
            wall, summary = lmrec(checkout, outputs, ["run", *common, "--force"])
            n, own = own_seconds(outputs, summary)
            print(f"| {checkout} | {round_} | {n} | {wall:.1f} | {plan_s:.1f} | {own:.1f} | {(wall - plan_s - own) / n:.2f} "
                  f"| {load:.1f} / {os.getloadavg()[0]:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
