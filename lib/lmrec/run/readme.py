"""The README's generated blocks: text between ``<!-- <name>:start -->`` and ``<!-- <name>:end -->`` markers.

Two blocks are generated, never typed by hand (``make readme-results``):

- ``results``: the main job's tables (:func:`lmrec.run.report.readme_block`, from ``outputs/tables/``), rebuilt
  after ``make main``;
- ``bench-results``: tables copied from the benchmark records under ``bench/results/`` (:data:`BENCH_TABLES`:
  the Scientific table and the reproduction table), rebuilt whenever those records change, since they come from
  runs outside the main job (real splits, hours of CPU) that no main job re-creates.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..paths import REPO_ROOT

# (section title, record file under bench/results, heading above its table or "" for the file's first table)
BENCH_TABLES = (
    ("Scientific: Recformer's split, all 11,041 users x 5,327 items (bench/results/scientific.md)", "scientific.md",
     "## Rows"),
    ("reproduction: every published number of the papers' tables with a split here, its ratio or why none "
     "(bench/results/reproduction.md)", "reproduction.md", ""),
)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_block(text: str, name: str, body: str, where: str = "README") -> str:
    """``text`` with the body of block ``name`` replaced by ``body``; ValueError naming the markers if absent."""
    start, end = markers(name)
    if start not in text or end not in text:
        raise ValueError(f"{where}: no {start} ... {end} block to fill; add the two marker lines where it belongs")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def first_table(markdown: str, heading: str = "", where: str = "") -> str:
    """The first Markdown table (consecutive ``|`` lines) after the line ``heading`` (or in the whole text)."""
    lines = markdown.splitlines()
    if heading:
        starts = [i for i, line in enumerate(lines) if line.strip() == heading]
        if not starts:
            raise ValueError(f"{where}: no heading {heading!r}; regenerate the record or fix BENCH_TABLES")
        lines = lines[starts[0] + 1:]
    table: list[str] = []
    for line in lines:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    if len(table) < 3 or not re.match(r"^\|[-:| ]+\|$", table[1]):
        raise ValueError(f"{where}: no Markdown table" + (f" under {heading!r}" if heading else ""))
    return "\n".join(table)


def bench_block(results: Path | None = None) -> str:
    """The ``bench-results`` block: each of :data:`BENCH_TABLES` under its title, taken from its record."""
    results = results or REPO_ROOT / "bench" / "results"
    parts = []
    for title, file, heading in BENCH_TABLES:
        path = results / file
        if not path.exists():
            raise ValueError(f"{path}: missing; it is a committed benchmark record (git checkout it)")
        parts.append(f"### {title}\n\n" + first_table(path.read_text(), heading, where=str(path)))
    return "\n\n".join(parts)


def update_block(readme: Path, name: str, body: str) -> bool:
    """Write ``body`` into block ``name`` of ``readme``; True if the file changed."""
    text = readme.read_text()
    new = replace_block(text, name, body, where=str(readme))
    if new != text:
        readme.write_text(new)
    return new != text


def write_reproduction_record(runs_root: Path | None = None, results: Path | None = None) -> Path:
    """Rebuild ``bench/results/reproduction.md``: every reference beside the matching runs under ``runs_root``
    (default: this outputs root's runs, if any) or, where none matches, the benchmark record it names."""
    import subprocess
    import time

    from ..paths import runs_dir
    from ..utils import atomic_path
    from .report import collect_runs
    from .reproduction import reproduction_markdown, reproduction_table

    runs_root = runs_root or runs_dir()
    runs = collect_runs(runs_root) if runs_root.is_dir() else None
    if runs is None or not len(runs):
        import pandas as pd

        runs = pd.DataFrame(columns=["table", "row", "params", "metrics", "folder", "status"])
    frame = reproduction_table(runs, root=REPO_ROOT)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    where = runs_root.relative_to(REPO_ROOT) if runs_root.is_relative_to(REPO_ROOT) else runs_root
    text = ("# The reproduction table (generated)\n\n"
            f"Built by `make readme-results` on {time.strftime('%Y-%m-%d', time.gmtime())} at {commit} "
            "(`lib/lmrec/run/readme.py`, `lib/lmrec/run/reproduction.py`): every reference of "
            "`lib/lmrec/run/references.yaml` beside this repository's number, from the run folders under "
            f"`{where}` where one matches and otherwise from the benchmark record the reference "
            "names (`result`). A reference that cannot have a number here says why (`needs`).\n\n"
            + reproduction_markdown(frame) + "\n")
    path = (results or REPO_ROOT / "bench" / "results") / "reproduction.md"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def main() -> None:
    """``make readme-results``: the reproduction record, then both README blocks (``results`` only where the
    main job's tables exist)."""
    from ..paths import tables_dir
    from .report import update_readme

    readme = REPO_ROOT / "README.md"
    print(f"wrote {write_reproduction_record()}")
    print(f"README bench-results block {'updated' if update_block(readme, 'bench-results', bench_block()) else 'unchanged'}")
    if any(tables_dir().glob("*.csv")):
        print(f"README results block {'updated' if update_readme(readme) else 'unchanged'}")
    else:
        print(f"no main-job tables under {tables_dir()}: the results block is left as it is (`make main` first)")


if __name__ == "__main__":
    main()
