"""The runs of a main job, in the order they finished, with each notebook's wall time (for bench/results/main_job.md).

    python bench/main_job_runs.py [--outputs outputs]

Reads every run's record under ``outputs/runs`` (``finished_at``, ``timings.total``, ``status``). A
notebook's wall is the time from the previous notebook's last finish to its own last finish: kernel start-up
included, and with ``--jobs`` > 1 its runs' own seconds add up to more than its wall.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path


def finished_runs(outputs: Path) -> list[dict]:
    """One row per finished run (:func:`lmrec.run.report.collect_runs`): time finished, notebook, run folder name,
    the notebook's own seconds, status; in the order they finished."""
    from lmrec.run.report import collect_runs

    runs = collect_runs(outputs / "runs")
    rows = [{"finished": datetime.fromisoformat(r.finished_at), "notebook": r.notebook, "run": Path(r.folder).name,
             "seconds": float("nan") if r.seconds is None else r.seconds, "status": r.status}
            for r in runs.itertuples()]
    return sorted(rows, key=lambda r: r["finished"])


def notebook_walls(rows: list[dict], start: datetime | None = None) -> list[tuple[str, float, float]]:
    """``(notebook, wall s, its runs' own s)`` in the order the notebooks finished."""
    out: list[tuple[str, float, float]] = []
    last = {}
    for r in rows:
        last[r["notebook"]] = r["finished"]
    previous = start or (rows[0]["finished"] if rows else None)
    for nb, end in sorted(last.items(), key=lambda kv: kv[1]):
        own = sum(r["seconds"] for r in rows if r["notebook"] == nb)
        out.append((nb, (end - previous).total_seconds(), own))
        previous = end
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outputs", default="outputs")
    parser.add_argument("--start", default="", help="when the job started (ISO time in UTC, no offset): the first "
                        "notebook's wall then includes the set-up")
    args = parser.parse_args()
    rows = finished_runs(Path(args.outputs))
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC) if args.start else None
    print("| notebook | wall s | runs' own s |\n|---|---|---|")
    for nb, wall, own in notebook_walls(rows, start):
        print(f"| {nb} | {wall:.1f} | {own:.1f} |")
    print("\n| finished (UTC) | notebook | run | seconds | status |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['finished']:%H:%M:%S} | {r['notebook']} | {r['run']} | {r['seconds']:.1f} | {r['status']} |")


if __name__ == "__main__":
    main()
