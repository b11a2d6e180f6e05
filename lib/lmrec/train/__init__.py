"""The training engine shared by every method: :func:`fit` (epoch loop, validation, selection, patience,
time budget, checkpoints and resume) and :func:`make_accelerator` (the one Accelerate factory)."""

from .accelerator import checkpoint_name, make_accelerator, resolve_mixed_precision, stop_agreement
from .engine import (
           CHECKPOINT_NAME,
           NOT_CONVERGED,
           STATUSES,
           FitConfig,
           FitResult,
           TensorHolder,
           TrainingState,
           fit,
)

__all__ = ["CHECKPOINT_NAME", "NOT_CONVERGED", "STATUSES", "FitConfig", "FitResult", "TensorHolder", "TrainingState", "checkpoint_name", "fit",
           "make_accelerator", "resolve_mixed_precision", "stop_agreement"]
