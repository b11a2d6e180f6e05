"""The runner: executes a plan of notebooks with papermill, one run folder each.

A run folder ``outputs/runs/<notebook>/<label>-<hash>`` holds ``params.json`` (written first),
``executed.ipynb`` (kept even when a cell fails), ``log.txt`` (cell stdout/stderr), ``kernel.txt`` (the
kernel process's own messages, kept off the terminal), and the ``metrics.json`` / ``env.json`` the notebook
writes through :meth:`lmrec.run.Run.finish`.
A run whose folder already has ``metrics.json`` for the same parameters is skipped unless forced, or
unless a notebook it reads (its ``lmrec.reads`` metadata) has finished a run since: then it is stale.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..paths import report_dir, runs_dir
from ..utils import write_json
from .kernel_env import kernel_environment, usable_cores
from .kernels import KernelsAhead, StartedKernel, kernel_manager
from .plan import PlannedRun, without_budget

KERNEL = "lmrec"


@dataclass
class RunOutcome:
    run: PlannedRun
    status: str  # done | skipped | failed
    seconds: float
    folder: Path
    error: str = ""


def run_folder(run: PlannedRun) -> Path:
    return runs_dir() / run.name


def is_finished(run: PlannedRun) -> bool:
    """True when the run folder holds metrics for these parameters and no upstream run is newer. A run
    whose training was capped by its time budget is not finished: running it again resumes it."""
    folder = run_folder(run)
    if not (folder / "metrics.json").exists() or not (folder / "params.json").exists():
        return False
    if was_capped(folder):
        return False
    recorded = json.loads((folder / "params.json").read_text()).get("params") or {}
    if without_budget(recorded) != without_budget(json.loads(json.dumps(run.params))):  # finished under any budget
        return False
    return newest_upstream(run) <= (folder / "metrics.json").stat().st_mtime


def was_capped(folder: Path) -> bool:
    """Whether the run in ``folder`` recorded a training stopped by its time budget (``status: capped``)."""
    try:
        return json.loads((folder / "metrics.json").read_text()).get("status") == "capped"
    except (OSError, ValueError):
        return False


def clear_checkpoints(folder: Path) -> list[Path]:
    """Delete the training checkpoints of a run folder (the next execution trains afresh)."""
    gone = sorted(folder.glob("checkpoint*.pt"))
    for path in gone:
        path.unlink()
    return gone


def newest_upstream(run: PlannedRun) -> float:
    """The latest ``metrics.json`` time among the runs of the notebooks ``run`` reads (0 if none)."""
    times = [m.stat().st_mtime for nb in run.reads for m in (runs_dir() / nb).glob("*/metrics.json")]
    return max(times, default=0.0)


def execute(run: PlannedRun, kernel: str = KERNEL, ready: StartedKernel | None = None,
            threads: int | None = None) -> RunOutcome:
    """Run one notebook with papermill into its run folder, in the kernel started for it ahead (``ready``) or in one
    started now with ``threads`` threads (default: the usable cores). The kernel is killed once the notebook has
    finished (its last cell wrote ``metrics.json``)."""
    import papermill as pm

    folder = run_folder(run)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").unlink(missing_ok=True)
    write_json(folder / "params.json", {"notebook": run.notebook, "params": run.params, "key": run.key})
    params = {**run.params, "RUN_DIR": str(folder)}
    t0 = time.perf_counter()
    kernel_out = ready.output if ready is not None else open(folder / "kernel.txt", "w")
    with (open(folder / "log.txt", "w") as log, kernel_out,
          kernel_environment(threads=threads)):  # threads, OpenMP wait, malloc
        try:
            pm.execute_notebook(str(run.path), str(folder / "executed.ipynb"), parameters=params,
                                kernel_name=kernel, cwd=str(run.path.parent), progress_bar=False,
                                stdout_file=log, stderr_file=log, report_mode=False, shutdown_kernel="immediate",
                                kernel_manager_class=kernel_manager(kernel_out, ready and ready.manager))
        except Exception as err:  # papermill has saved the executed notebook with the failing cell
            return RunOutcome(run, "failed", time.perf_counter() - t0, folder, _short_error(err))
    seconds = time.perf_counter() - t0
    if not (folder / "metrics.json").exists():
        return RunOutcome(run, "failed", seconds, folder, "the notebook finished without writing metrics.json (its last cell must call run.finish)")
    if run.html:
        export_html(folder / "executed.ipynb", report_dir() / "index.html")
    return RunOutcome(run, "done", seconds, folder)


def export_html(executed: Path, target: Path) -> Path:
    """The executed notebook as one HTML file without code cells (nbconvert ``--no-input``) that needs no
    network: equations are converted to MathML (drawn by the browser itself), and the template's CDN scripts
    (require.js, MathJax, mermaid) are left out."""
    import nbformat
    from nbconvert import HTMLExporter

    from ..utils import atomic_path

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = markdown_math_to_mathml(cell.source)
    exporter = HTMLExporter()
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    body = strip_remote_scripts(body)
    with atomic_path(target) as tmp:
        tmp.write_text(body)
    return target


_MATH = re.compile(r"(?<![\\$])\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\s\\])\$", re.S)
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"']https?://[^>]*>\s*</script>|<link[^>]*href=[\"']https?://[^>]*>", re.I)
_INLINE_LOADER = re.compile(r"<script[^>]*>(?:(?!</script>).)*?(?:cdn\.jsdelivr|cdnjs|unpkg\.com|mathjax|mermaid)"
                            r"(?:(?!</script>).)*</script>", re.I | re.S)


def markdown_math_to_mathml(source: str) -> str:
    """``$...$`` and ``$$...$$`` in Markdown as MathML. A line of an equation that starts with ``+ `` or ``- ``
    is joined to the line before first, so Markdown cannot read it as a list item. An equation the converter
    does not understand is kept as TeX in a code span."""
    from latex2mathml.converter import convert

    source = _join_math_continuations(source)

    def to_mathml(m: re.Match) -> str:
        tex, display = (m.group(1), "block") if m.group(1) is not None else (m.group(2), "inline")
        try:
            return convert(" ".join(tex.split()), display=display)
        except Exception:
            return f"`{tex.strip()}`"

    parts = re.split(r"(```.*?```|`[^`\n]*`)", source, flags=re.S)  # leave code alone
    return "".join(p if i % 2 else _MATH.sub(to_mathml, p) for i, p in enumerate(parts))


def _join_math_continuations(source: str) -> str:
    out: list[str] = []
    mode = ""  # "", "$" or "$$": the kind of equation open at the end of the last line
    for line in source.split("\n"):
        if mode and out and re.match(r"\s*[-+*] ", line):
            out[-1] = f"{out[-1]} {line.strip()}"
        else:
            out.append(line)
        for token in re.findall(r"(?<!\\)\$\$|(?<!\\)\$", re.sub(r"`[^`]*`", "", line)):
            if not mode:
                mode = token
            elif token == mode:
                mode = ""
    return "\n".join(out)


def strip_remote_scripts(html: str) -> str:
    """The HTML without ``<script src=https://...>``, ``<link href=https://...>`` and inline loaders of
    MathJax / mermaid / require.js from a CDN."""
    return _INLINE_LOADER.sub("", _REMOTE_SCRIPT.sub("", html))


def run_plan(plan: list[PlannedRun], force: bool = False, keep_going: bool = True, kernel: str = KERNEL,
             echo=print, jobs: int = 1) -> list[RunOutcome]:
    """Execute every run of the plan in order, skipping finished ones; print a summary at the end. While a run
    executes, the kernel of the next one starts (:class:`~lmrec.run.kernels.KernelsAhead`).

    ``jobs`` > 1 executes the runs of one notebook side by side, ``jobs`` at a time with the cores shared out
    (:func:`waves`): the small models of most notebooks do not use a second core (``bench/results/
    kernel_threads.md``: LightGCN on ML-100K 3.6 s at two threads, 3.3 s at one), two runs at one thread each do.
    Runs of different notebooks never overlap (a notebook reads the products of the ones before it), and the first
    run of a notebook executes alone, so a cache it fills (LEARN's content vectors) is filled once."""
    outcomes: dict[int, RunOutcome] = {}
    bar = tqdm(total=len(plan), desc="runs", unit="run")
    ahead = KernelsAhead(kernel)
    todo = [force or run.always or not is_finished(run) for run in plan]
    threads = max(1, usable_cores() // max(1, jobs))

    def sequential(i: int, following: int | None) -> RunOutcome:
        run = plan[i]
        bar.set_postfix_str(run.name[:60])
        folder = run_folder(run)
        prepare_folder(folder, force)
        ready = ahead.take(run.name)
        if following is not None:
            ahead.start(plan[following].name, plan[following].path, run_folder(plan[following]) / "kernel.txt")
        return execute(run, kernel, ready)

    def record(i: int, outcome: RunOutcome) -> bool:
        outcomes[i] = outcome
        bar.update(1)
        if outcome.status == "failed":
            tqdm.write(f"FAILED {outcome.run.name}: {outcome.error}\n  executed notebook: "
                       f"{outcome.folder / 'executed.ipynb'}")
        return outcome.status != "failed" or keep_going

    try:
        for alone, together in waves(plan, todo, jobs):
            going = True
            for i in alone:
                if not todo[i]:
                    going = record(i, RunOutcome(plan[i], "skipped", 0.0, run_folder(plan[i])))
                    continue
                later = [j for j in range(i + 1, len(plan)) if todo[j] and j not in together]
                going = record(i, sequential(i, later[0] if later else None))
                if not going:
                    break
            if going and together:
                for i, outcome in execute_together(plan, together, kernel, jobs, threads, force, keep_going):
                    going = record(i, outcome) and going
            if not going:
                break
    finally:
        ahead.close()
        bar.close()
    ordered = [outcomes[i] for i in sorted(outcomes)]
    echo(summary(ordered))
    return ordered


def waves(plan: list[PlannedRun], todo: list[bool], jobs: int) -> list[tuple[list[int], list[int]]]:
    """The plan cut into consecutive runs of one notebook: ``(alone, together)`` index lists per notebook, the
    runs executed one after the other and those executed ``jobs`` at a time. With one job, or fewer than two runs
    left to execute after the first, every run is ``alone``; otherwise the first run to execute is alone and the
    other runs to execute go together (runs that are finished stay ``alone``, where they are skipped)."""
    out: list[tuple[list[int], list[int]]] = []
    i = 0
    while i < len(plan):
        j = i
        while j < len(plan) and plan[j].notebook == plan[i].notebook:
            j += 1
        indices = list(range(i, j))
        pending = [k for k in indices if todo[k]]
        if jobs <= 1 or len(pending) < 3:
            out.append((indices, []))
        else:
            together = pending[1:]
            out.append(([k for k in indices if k not in together], together))
        i = j
    return out


def execute_together(plan: list[PlannedRun], indices: list[int], kernel: str, jobs: int, threads: int,
                     force: bool, keep_going: bool = True):
    """Execute the runs ``indices`` of ``plan``, ``jobs`` at a time in worker processes (each its own environment,
    so every kernel gets ``threads`` threads), yielding ``(index, outcome)`` as they finish. Without ``keep_going``
    a failure cancels the runs not started yet; those already executing finish and are yielded."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    for i in indices:
        prepare_folder(run_folder(plan[i]), force)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(execute, plan[i], kernel, None, threads): i for i in indices}
        for future in as_completed(futures):
            if future.cancelled():
                continue
            i = futures[future]
            try:
                outcome = future.result()
            except Exception as err:  # the worker process itself died (killed, out of memory)
                outcome = RunOutcome(plan[i], "failed", 0.0, run_folder(plan[i]), _short_error(err))
            yield i, outcome
            if outcome.status == "failed" and not keep_going:
                for other in futures:
                    other.cancel()


def prepare_folder(folder: Path, force: bool) -> None:
    """Resume only what was cut short (killed: no metrics; capped); a forced or stale re-run starts afresh."""
    if force or ((folder / "metrics.json").exists() and not was_capped(folder)):
        clear_checkpoints(folder)


def summary(outcomes: list[RunOutcome]) -> str:
    lines = [f"{'run':<70} {'status':<8} {'seconds':>8}"]
    for o in outcomes:
        lines.append(f"{o.run.name:<70} {o.status:<8} {o.seconds:>8.1f}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    total = sum(o.seconds for o in outcomes)
    lines.append(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed in {total:.0f} s")
    return "\n".join(lines)


def _short_error(err: Exception) -> str:
    text = str(err).strip().splitlines()
    tail = [line for line in text if line.strip()][-3:]
    return " | ".join(tail)[:600]
