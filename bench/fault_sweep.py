"""Planted-fault sweep: how many plausible bugs does the test suite catch?

Each fault in ``bench/planted_faults.json`` is a small edit of one library file (``old`` -> ``new``, ``old`` found
exactly once) of the kind that silently changes results: a dropped loss term, a swapped range, a mask ignored.
The sweep works on a scratch clone (never on this checkout): it first runs every listed test unpatched (they
must pass), then, one fault at a time, patches the clone, runs that fault's tests with ``-x`` and restores the
file. A fault counts as caught when its tests fail. Results go to a JSON file and are resumable (faults
already in it are skipped).

Usage: git clone . /tmp/sweep && python bench/fault_sweep.py /tmp/sweep [--faults bench/planted_faults.json]
       [--out /tmp/sweep/fault_sweep.json] [--ids a,b]
A fault's ``tests`` are pytest paths or node ids; a fault without them runs ``tests/<area>``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run_tests(clone: Path, tests: list[str], timeout: int) -> tuple[object, str, float]:
    """pytest on ``tests`` inside ``clone`` with the clone's ``lib`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(clone / "lib"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not gpu", *tests]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout[-1500:], time.time() - t0
    except subprocess.TimeoutExpired:
        return "timeout", "", time.time() - t0


def fault_tests(fault: dict) -> list[str]:
    return fault.get("tests", "").split() or [f"tests/{fault['area']}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clone", type=Path, help="a scratch clone of this repository (its lib/ gets patched)")
    ap.add_argument("--faults", type=Path, default=HERE / "bench" / "planted_faults.json")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--ids", default="", help="comma-separated fault ids (default: all)")
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args(argv)
    clone = args.clone.resolve()
    if clone == HERE:
        sys.exit("fault_sweep: give a scratch clone, not this checkout (its files get patched)")
    faults = json.loads(args.faults.read_text())
    if args.ids:
        faults = [f for f in faults if f["id"] in set(args.ids.split(","))]
    out = args.out or clone / "fault_sweep.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    if "_baseline" not in results:
        tests = sorted({t for f in faults for t in fault_tests(f)})
        rc, tail, seconds = run_tests(clone, tests, args.timeout * 3)
        results["_baseline"] = {"rc": rc, "seconds": round(seconds, 1), "tail": tail}
        out.write_text(json.dumps(results, indent=1))
        if rc != 0:
            sys.exit(f"fault_sweep: the unpatched tests fail, fix that first:\n{tail}")
    for fault in faults:
        if fault["id"] in results:
            continue
        path = clone / fault["file"]
        text = path.read_text()
        if text.count(fault["old"]) != 1:
            results[fault["id"]] = {"caught": None, "rc": "stale: 'old' not found exactly once"}
            continue
        path.write_text(text.replace(fault["old"], fault["new"]))
        try:
            rc, tail, seconds = run_tests(clone, fault_tests(fault), args.timeout)
        finally:
            path.write_text(text)
        results[fault["id"]] = {"caught": rc not in (0, 5, "timeout"), "rc": rc, "seconds": round(seconds, 1),
                                "tail": tail[-600:]}
        out.write_text(json.dumps(results, indent=1))
        print(f"{fault['id']:45s} {'caught' if results[fault['id']]['caught'] else 'MISSED'} ({seconds:.0f} s)",
              flush=True)
    scored = [r for k, r in results.items() if k != "_baseline" and r.get("caught") is not None]
    print(f"caught {sum(r['caught'] for r in scored)} of {len(scored)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
