"""The one epoch loop of every method: validation schedule, model selection, patience, time budget,
checkpoints and resume.

A method gives :func:`fit` two callables, its epoch body (``train_epoch(epoch) -> {"loss": ..., ...}``)
and its validation (``validate(epoch) -> {"recall@20": ..., ...}``), and a :class:`TrainingState` naming
what makes up its training state (model, optimizers, schedulers, its own random generators). The engine

- validates every ``eval_every`` epochs and at the last epoch, keeps the best state by
  ``select_metric``, stops after ``patience`` validations without improvement (``converged``);
- stops once this call's training time passes ``time_limit_s`` (``capped``: not converged, and said so;
  a run with patience that reaches its last epoch without converging ends ``epoch_limit``, also capped);
  a re-run continues for up to as long again;
- writes an atomic checkpoint at every validation and when capped (all states, every random generator,
  the history and the best state); a re-run that finds the checkpoint continues from it, so a run that was
  killed or capped ends, on CPU, with exactly the numbers of an uninterrupted run. A run that ends normally
  leaves a final checkpoint: a re-run in the same folder restores the state in which the fit returned
  instead of training again (the runner deletes checkpoints when it re-runs a notebook on ``--force`` or a newer upstream run);
- restores the best state at the end and records one history row per epoch with the same keys for every
  method: ``epoch``, ``seconds``, the epoch body's losses, ``valid_<metric>`` on validation epochs.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..utils import atomic_path, stable_hash

CHECKPOINT_NAME = "checkpoint.pt"
# converged: patience ran out | epoch_limit: the EPOCHS ceiling stopped a run that had patience (not
# converged) | completed: a fixed schedule (no patience) ran every epoch | capped: the time budget stopped it
STATUSES = ("converged", "epoch_limit", "completed", "capped")
NOT_CONVERGED = ("epoch_limit", "capped")  # reported as capped, never as converged


@dataclass
class FitConfig:
    """The loop's settings. ``patience`` counts validations without improvement (0: never stop early);
    ``time_limit_s`` bounds the training time of one call (None: no bound); a re-run of a capped run
    resumes and may train as long again."""

    epochs: int
    eval_every: int = 1
    patience: int = 0
    select_metric: str = "recall@20"
    time_limit_s: float | None = None
    progress: bool = True
    desc: str = "train"

    def __post_init__(self) -> None:
        for name in ("epochs", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.patience) < 0:
            raise ValueError(f"patience must be >= 0 (0: never stop early), got {self.patience}")
        if self.time_limit_s is not None and float(self.time_limit_s) < 0:
            raise ValueError(f"time_limit_s must be >= 0 or None, got {self.time_limit_s}")


@dataclass
class TrainingState:
    """What a checkpoint holds besides the loop's own bookkeeping.

    ``objects``: name -> anything with ``state_dict()``/``load_state_dict()`` (models, optimizers,
    schedulers, :class:`TensorHolder`); ``generators``: name -> ``torch.Generator`` or
    ``numpy.random.Generator`` the method draws from; ``best``: the names in ``objects`` whose states make
    up the best state that is kept and restored (default: ``model``). The global generators of Python,
    NumPy and torch (CPU and CUDA) are always saved."""

    objects: dict[str, Any]
    generators: dict[str, Any] = field(default_factory=dict)
    best: tuple[str, ...] = ("model",)

    def __post_init__(self) -> None:
        missing = [b for b in self.best if b not in self.objects]
        if missing:
            raise ValueError(f"TrainingState.best names {missing}, which are not in objects {list(self.objects)}")


class TensorHolder:
    """A tensor that is part of the training state (e.g. Recformer's frozen item table)."""

    def __init__(self, value: torch.Tensor | None = None) -> None:
        self.value = value

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"]


@dataclass
class FitResult:
    history: list[dict[str, float]]
    best_epoch: int          # 0 when no validation happened
    best_metric: float
    epochs_run: int
    train_seconds: float     # training + validation time, summed over resumed runs
    status: str              # one of STATUSES
    resumed_from: int = 0    # the epoch of the checkpoint this run continued from (0: a fresh start)
    call_seconds: float = 0.0  # training + validation time of this call alone (what the budget bounds)
    select_metric: str = ""

    @property
    def seconds_per_epoch(self) -> float:
        return self.train_seconds / max(1, self.epochs_run)

    def summary(self) -> dict[str, Any]:
        """The fields a run records in ``metrics.json`` (``extra.training``)."""
        return {"status": self.status, "best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
                "best_valid": None if math.isinf(self.best_metric) else round(self.best_metric, 6),
                "select_metric": self.select_metric, "resumed_from": self.resumed_from,
                "seconds_per_epoch": round(self.seconds_per_epoch, 4), "train_seconds": round(self.train_seconds, 2)}


# ----------------------------------------------------------------------------------------- RNG state
def _generator_state(gen: Any) -> Any:
    if isinstance(gen, torch.Generator):
        return gen.get_state()
    if isinstance(gen, np.random.Generator):
        return copy.deepcopy(gen.bit_generator.state)
    raise TypeError(f"cannot checkpoint a generator of type {type(gen).__name__}")


def _set_generator_state(gen: Any, state: Any) -> None:
    if isinstance(gen, torch.Generator):
        gen.set_state(state)
    else:
        gen.bit_generator.state = state


def _global_rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_global_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _copy_state(obj: Any) -> dict:
    return copy.deepcopy(obj.state_dict())


# ----------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, payload: dict) -> None:
    """Write ``payload`` with ``torch.save`` atomically (a killed write never leaves a broken file)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, identity: str) -> dict | None:
    """The checkpoint at ``path`` if it belongs to a run with this ``identity``, else None (with a note)."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a foreign or corrupt file: say so and start afresh rather than crash
        print(f"checkpoint {path} could not be read ({type(err).__name__}: {err}); starting afresh")
        return None
    if payload.get("identity") != identity:
        print(f"checkpoint {path} belongs to other settings; starting afresh")
        return None
    return payload


def _load_into(obj: Any, state: dict) -> None:
    if isinstance(obj, torch.nn.Module):
        device = next((p.device for p in obj.parameters()), torch.device("cpu"))
        state = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in state.items()}
    obj.load_state_dict(state)


def _restore(state: TrainingState, payload: dict) -> None:
    """Load every object, generator and global generator from a checkpoint; a finished one also loads its
    best state over the objects (the state in which its fit returned)."""
    for name, obj in state.objects.items():
        _load_into(obj, payload["objects"][name])
    for name, gen in state.generators.items():
        _set_generator_state(gen, payload["generators"][name])
    _set_global_rng_state(payload["rng"])
    if payload.get("finished") and payload["best_state"] is not None:
        for name, st in payload["best_state"].items():
            _load_into(state.objects[name], st)


def _without_budget(value: Any) -> Any:
    """``value`` with every ``time_limit_s`` entry dropped, at any depth: a time budget bounds how long a run may
    train, not what it computes, so a run capped under one budget resumes under another (as the runner keeps
    ``TIME_LIMIT_S`` out of a run's folder name)."""
    if isinstance(value, Mapping):
        return {k: _without_budget(v) for k, v in value.items() if k != "time_limit_s"}
    if isinstance(value, (list, tuple)):
        return [_without_budget(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------- the loop
def fit(train_epoch: Callable[[int], Mapping[str, float]], validate: Callable[[int], Mapping[str, float]] | None,
        config: FitConfig, state: TrainingState, checkpoint_dir: str | Path | None = None,
        identity: Any = None, on_record: Callable[[dict], None] | None = None,
        agree: Callable[[bool], bool] | None = None, checkpoint_name: str = CHECKPOINT_NAME,
        initial_best: float | None = None) -> FitResult:
    """Run epochs ``1..config.epochs`` of ``train_epoch`` with validation, selection, patience, time budget
    and checkpoints in ``checkpoint_dir`` (None: no checkpoints); leave the best state loaded.

    ``validate`` None: a stage without validation (e.g. pretraining): checkpoints still follow the
    ``eval_every`` schedule, nothing is selected and the last state is kept.
    ``identity`` (any JSON-able value: the settings that define the run) guards resume: a checkpoint
    written under another identity is ignored. ``on_record`` receives each history row as it is made.
    Several processes (``accelerate launch``): each writes its own ``checkpoint_name`` (see
    :func:`lmrec.train.checkpoint_name`), and ``agree`` turns one process's wish to stop for time into the
    decision of all (:func:`lmrec.train.stop_agreement`), so that every process stops after the same
    epoch. Multi-stage methods name one checkpoint file per stage. ``initial_best``: the score the current state already has (a later stage must beat it; the
    current state is the best state until then, reported as epoch 0)."""
    ckpt = Path(checkpoint_dir) / checkpoint_name if checkpoint_dir else None
    ident = stable_hash({"identity": _without_budget(identity), "fit": asdict(config) | {"progress": None, "time_limit_s": None}})
    history: list[dict[str, float]] = []
    best_metric, best_epoch, bad, best_state = -math.inf, 0, 0, None
    start, train_seconds, resumed_from, call_seconds = 1, 0.0, 0, 0.0

    if initial_best is not None:
        best_metric, best_state = float(initial_best), {n: _copy_state(state.objects[n]) for n in state.best}
    payload = load_checkpoint(ckpt, ident) if ckpt else None
    if payload is not None and payload.get("finished"):  # this fit already ran to its end: reuse its result
        _restore(state, payload)
        print(f"{ckpt}: this training already finished ({payload['status']}); its best state is reused")
        return FitResult(history=payload["history"], best_epoch=payload["best_epoch"],
                         best_metric=payload["best_metric"], epochs_run=payload["epoch"],
                         train_seconds=payload["train_seconds"], status=payload["status"],
                         resumed_from=payload["epoch"] + 1, select_metric=config.select_metric)
    if payload is not None:
        _restore(state, payload)
        history = payload["history"]
        best_metric, best_epoch, bad = payload["best_metric"], payload["best_epoch"], payload["bad"]
        best_state, train_seconds = payload["best_state"], payload["train_seconds"]
        start = resumed_from = payload["epoch"] + 1
        print(f"resuming from {ckpt} after epoch {payload['epoch']} (best {config.select_metric} "
              f"{best_metric:.4f} at epoch {best_epoch})")

    def write(epoch: int, **final: Any) -> None:
        if ckpt is None:
            return
        save_checkpoint(ckpt, {
            "identity": ident, "epoch": epoch, "history": history, "best_metric": best_metric,
            "best_epoch": best_epoch, "bad": bad, "best_state": best_state, "train_seconds": train_seconds,
            "objects": {n: o.state_dict() for n, o in state.objects.items()},
            "generators": {n: _generator_state(g) for n, g in state.generators.items()},
            "rng": _global_rng_state(), **final,
        })

    exhausted = bool(config.patience) and bad >= config.patience  # a checkpoint of a run that had stopped
    status, epoch = ("converged" if exhausted else "completed"), start - 1
    last = start - 1 if exhausted else config.epochs
    bar = tqdm(total=config.epochs, initial=start - 1, desc=config.desc, disable=not config.progress)
    for epoch in range(start, last + 1):
        t0 = time.perf_counter()
        row: dict[str, float] = {"epoch": epoch, **{k: float(v) for k, v in train_epoch(epoch).items()}}
        validated = epoch % config.eval_every == 0 or epoch == config.epochs
        if validated and validate is not None:
            metrics = validate(epoch)
            if config.select_metric not in metrics:
                raise KeyError(f"select_metric {config.select_metric!r} is not among the validation metrics "
                               f"{sorted(metrics)}")
            row.update({f"valid_{k}": float(v) for k, v in metrics.items()})
            score = float(metrics[config.select_metric])
            if score > best_metric:
                best_metric, best_epoch, bad = score, epoch, 0
                best_state = {n: _copy_state(state.objects[n]) for n in state.best}
            else:
                bad += 1
        row["seconds"] = time.perf_counter() - t0
        train_seconds += row["seconds"]
        call_seconds += row["seconds"]
        history.append(row)
        if on_record is not None:
            on_record(row)
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k == "loss" or k == f"valid_{config.select_metric}"})
        stop = bool(config.patience) and bad >= config.patience
        capped = not stop and epoch < config.epochs and config.time_limit_s is not None \
            and call_seconds >= config.time_limit_s
        if agree is not None and config.time_limit_s is not None:
            capped = not stop and epoch < config.epochs and agree(capped)
        if validated or capped:
            write(epoch)
        if stop:
            status = "converged"
            break
        if capped:
            status = "capped"
            break
    bar.close()
    if status == "completed" and config.patience:  # the epoch ceiling, not patience, ended it
        status = "epoch_limit"
    if best_state is not None:
        for name, st in best_state.items():
            _load_into(state.objects[name], st)
    if status != "capped":  # the state as this call leaves it: a re-run reuses it instead of training again
        write(epoch, finished=True, status=status)
    return FitResult(history=history, best_epoch=best_epoch, best_metric=best_metric, epochs_run=epoch,
                     train_seconds=train_seconds, status=status, resumed_from=resumed_from, call_seconds=call_seconds,
                     select_metric=config.select_metric)
