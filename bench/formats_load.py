"""Read/write times of the papers' real published splits (../shared/data) through ``lmrec.data.formats``.

    OMP_NUM_THREADS=1 python bench/formats_load.py --out bench/results/formats_load.md
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from lmrec.data import formats
from lmrec.paths import REPO_ROOT
from lmrec.run.context import machine_summary

SPLITS = {"rlmrec_yelp": "rlmrec", "cllm4rec_beauty": "cllm4rec", "recformer_scientific": "recformer",
          "llmrec_netflix": "llmrec"}


def best_of(repeats: int, fn, *args, **kwargs) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for name, fmt in SPLITS.items():
        folder = args.data / name
        if not folder.is_dir():
            print(f"skip {name}: {folder} is absent")
            continue
        read_s, ds = best_of(args.repeats, formats.read_format, fmt, folder, verbose=False)
        with tempfile.TemporaryDirectory() as tmp:
            options = {"text_variant": "tsv"} if fmt == "recformer" else {}
            write_s, _ = best_of(args.repeats, formats.write_format, fmt, ds, Path(tmp), **options)
        s = ds.stats()
        rows.append((name, fmt, s["n_users"], s["n_items"], s["n_interactions"], read_s, write_s))
        print(f"{name}: read {read_s:.2f} s, write {write_s:.2f} s ({s['n_interactions']:,} interactions)")
    if args.out:
        lines = ["# Format readers/writers on the real published splits", "",
                 f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')} python bench/formats_load.py --out {args.out}`; "
                 f"best of {args.repeats}; {machine_summary()} (shared machine).", "",
                 "| split | format | users | items | interactions | read (s) | write (s) |", "|---|---|---:|---:|---:|---:|---:|",
                 *[f"| {n} | {f} | {u:,} | {i:,} | {x:,} | {r:.2f} | {w:.2f} |" for n, f, u, i, x, r, w in rows],
                 "", "Read includes every validation check (types, shapes, id ranges, train.json vs train_mat for LLMRec)."]
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
