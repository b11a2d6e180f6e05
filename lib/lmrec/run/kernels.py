"""The runner's kernels: each run gets a fresh kernel process, started while the run before it executes.

A run used to wait for its kernel to start (~0.6 s) and for its first cell's imports (torch, pandas, matplotlib,
lmrec: 2-5 s), then for the graceful shut-down of its kernel (~1 s): 3-7 s a run, measured in
``bench/results/main_job.md``. :class:`KernelsAhead` starts the kernel of the next run while the current one
executes and has it run the import statements of that notebook's first code cell (silently: nothing is shown and
no execution count is taken). The notebook's own first cell then re-runs the same imports, which binds the same
modules, so a run starts from the state its first cell would have made in a fresh kernel; nothing is carried over
from one run to the next. One visible difference: a warning printed while those modules are imported goes to the
silent request, not to the executed notebook's first cell. A kernel whose imports fail is discarded (the run starts
a fresh one and shows the error in its own cell). A finished run's kernel is killed at once: its last cell has
written ``metrics.json``. (Reusing one kernel for several runs was rejected: nothing guarantees a clean state.)
"""

from __future__ import annotations

import ast
import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .kernel_env import kernel_environment

# what nbclient passes to every kernel it starts (IPython history kept in memory, not in ~/.ipython)
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]
IMPORT_TIMEOUT_S = 600


def kernel_manager(output: IO[str], ready: Any = None) -> type:
    """A kernel manager class whose kernel process writes its own stdout/stderr (start-up warnings such as
    "Kernel is running over TCP without encryption") to ``output`` instead of the runner's terminal. With ``ready``
    (a manager whose kernel is already running), creating the class's instance gives ``ready`` itself: papermill
    then runs the notebook in that kernel, and shuts it down afterwards as one it started."""
    from jupyter_client.manager import AsyncKernelManager

    class RunKernelManager(AsyncKernelManager):
        def __new__(cls, *args: Any, **kw: Any) -> Any:
            return ready if ready is not None else super().__new__(cls, *args, **kw)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw["stdout"], kw["stderr"] = output, output
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return RunKernelManager


def first_cell_imports(notebook: Path) -> str:
    """The top-level ``import`` / ``from ... import`` statements of a notebook's first code cell (magics and every
    other statement left out); empty when there are none or the cell does not parse."""
    import nbformat

    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    if not cells:
        return ""
    lines = [line for line in cells[0].source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return ""
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))


@dataclass
class StartedKernel:
    """A kernel started for one run: its manager, the client that sent the imports, and their request id."""

    manager: Any
    client: Any
    imports_id: str | None
    output: IO[str]


class KernelsAhead:
    """At most one kernel started ahead, for a named run (see the module's docstring)."""

    def __init__(self, kernel: str):
        self.kernel = kernel
        self.ahead: dict[str, StartedKernel] = {}

    def start(self, name: str, notebook: Path, kernel_out: Path) -> bool:
        """Start the kernel of run ``name`` (its process output to ``kernel_out``) and send it the notebook's
        first-cell imports; returns at once. False when the kernel could not be started (an unknown kernel name, a
        notebook that cannot be read): the run then starts its own, and papermill reports the error in it."""
        from jupyter_core.utils import run_sync

        self.close()
        kernel_out.parent.mkdir(parents=True, exist_ok=True)
        output = open(kernel_out, "w")
        manager = kernel_manager(output)(kernel_name=self.kernel)
        try:
            code = first_cell_imports(notebook)
            with kernel_environment():  # the kernel's environment is fixed when its process starts
                run_sync(manager.start_kernel)(cwd=str(notebook.parent), extra_arguments=list(KERNEL_ARGUMENTS))
            client = manager.client()
            client.start_channels()
            imports_id = client.execute(code, silent=True, store_history=False) if code else None
        except Exception:
            if manager.has_kernel:
                run_sync(manager.shutdown_kernel)(now=True)
            output.close()
            return False
        self.ahead[name] = StartedKernel(manager, client, imports_id, output)
        return True

    def take(self, name: str) -> StartedKernel | None:
        """The kernel started for run ``name`` once its imports are done; None when none was started for it or its
        imports failed (that kernel is shut down: the run starts its own)."""
        from jupyter_core.utils import run_sync

        started = self.ahead.pop(name, None)
        if started is None:
            return None
        ok = run_sync(self._imports_done)(started)
        started.client.stop_channels()
        if not ok:
            self._stop(started)
            return None
        return started

    @staticmethod
    async def _imports_done(started: StartedKernel) -> bool:
        if started.imports_id is None:
            return bool(await started.manager.is_alive())
        try:
            while True:
                reply = await asyncio.wait_for(started.client.get_shell_msg(), IMPORT_TIMEOUT_S)
                if reply["parent_header"].get("msg_id") == started.imports_id:
                    return reply["content"].get("status") == "ok"
        except TimeoutError:
            return False

    def _stop(self, started: StartedKernel) -> None:
        from jupyter_core.utils import run_sync

        try:
            run_sync(started.manager.shutdown_kernel)(now=True)
        finally:
            started.output.close()

    def close(self) -> None:
        """Stop every kernel started ahead and not taken."""
        while self.ahead:
            started = self.ahead.popitem()[1]
            started.client.stop_channels()
            self._stop(started)
