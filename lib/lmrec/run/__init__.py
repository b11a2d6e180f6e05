"""Runs: notebook run context (``start_run``), the papermill runner, and the report."""

from .context import Run, start_run

__all__ = ["Run", "start_run"]
