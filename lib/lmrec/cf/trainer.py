"""The one trainer of every graph CF backbone x alignment.

Per epoch: shuffle all training interactions on the device, draw one negative each
(:class:`~lmrec.train.sampling.NegativeSampler`), Adam steps over batches of ``batch_size`` triples. The
loop itself is the engine's (:func:`lmrec.train.fit`): full-ranking validation Recall@20 every
``eval_every`` epochs (:mod:`lmrec.eval`), the best state kept, a stop after ``patience`` evaluations
without improvement (RLMRec: ``test_step`` 3, ``patience`` 5), checkpoints and resume. Then the best state
is restored and the test split evaluated once. Losses are summed on the device and read once per epoch
(no per-batch host sync).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..eval import EvalResult, Protocol, evaluate_split
from ..train import FitConfig, TrainingState, fit
from ..train.sampling import NegativeSampler
from .backbone import Batch
from .model import CFModel


@dataclass
class CFTrainConfig:
    """Optimisation and model-selection settings. The hyperparameters have no default here: their one home is
    each notebook's parameters cell (``EPOCHS``, ``BATCH_SIZE``, ``LR``, ``EVAL_EVERY``, ``PATIENCE``), read
    outside a notebook through :meth:`lmrec.cf.notebook.CFSpec.from_notebook`."""

    epochs: int
    batch_size: int
    lr: float
    eval_every: int
    patience: int
    select_metric: str = "recall@20"
    eval_batch_size: int = 1024
    progress: bool = True
    time_limit_s: float | None = None  # stop as ``capped`` once training time passes this; a re-run resumes

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CFTrainConfig.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class CFTrainResult:
    history: list[dict[str, float]]
    best_epoch: int
    valid: EvalResult
    test: EvalResult
    epochs_run: int
    seconds_per_epoch: float
    train_seconds: float
    config: dict = field(default_factory=dict)
    status: str = "completed"   # lmrec.train.STATUSES: converged | epoch_limit | completed | capped
    resumed_from: int = 0       # epoch of the checkpoint this run continued from (0: fresh)

    def summary(self) -> dict[str, float | str]:
        return {"status": self.status, "best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
                "resumed_from": self.resumed_from, "seconds_per_epoch": round(self.seconds_per_epoch, 4),
                "train_seconds": round(self.train_seconds, 2)}


def train_epoch(model: CFModel, optimizer: torch.optim.Optimizer, sampler: NegativeSampler, users: torch.Tensor,
                items: torch.Tensor, batch_size: int, epoch: int,
                after_step: Callable[[dict[str, torch.Tensor]], bool] | None = None) -> dict[str, float]:
    """One pass over all training interactions; returns the mean of each loss part over batches.
    ``after_step`` (benchmarks) sees each step's loss parts and ends the epoch early by returning True."""
    model.train()
    model.backbone.on_epoch_start(epoch)
    perm = torch.randperm(users.numel(), device=users.device)
    u_all, p_all = users[perm], items[perm]
    n_all = sampler.sample(u_all)
    sums: dict[str, torch.Tensor] = {}
    n_batches = 0
    for step, start in enumerate(range(0, u_all.numel(), batch_size)):
        sl = slice(start, start + batch_size)
        batch = Batch(u_all[sl], p_all[sl], n_all[sl], epoch=epoch, step=step)
        model.backbone.on_step_start(batch)
        optimizer.zero_grad(set_to_none=True)
        loss, parts = model.loss(batch)
        loss.backward()
        optimizer.step()
        parts["loss"] = loss.detach()
        for k, v in parts.items():
            sums[k] = sums[k] + v if k in sums else v
        n_batches += 1
        if after_step is not None and after_step(parts):
            break
    return {k: float(v) / n_batches for k, v in sums.items()}


def evaluate_cf(model: CFModel, dataset, split: str, protocol: Protocol, device: torch.device,
                   batch_size: int = 1024) -> EvalResult:
    model.eval()
    return evaluate_split(model.scorer(), dataset, split, protocol, device, batch_size)


def train_cf(model: CFModel, dataset, config: CFTrainConfig, protocol: Protocol | None = None,
             device: torch.device | str = "cpu", checkpoint_dir: str | Path | None = None) -> CFTrainResult:
    """Train ``model`` on ``dataset.train`` through the engine (:func:`lmrec.train.fit`: validation every
    ``eval_every`` epochs, patience, time budget, checkpoints in ``checkpoint_dir`` and resume), restore the
    best state and evaluate the test split once. ``model`` must already be on ``device``."""
    protocol = protocol or Protocol()
    device = torch.device(device)
    graph = model.backbone.graph
    users, items = graph.train_users.to(device), graph.train_items.to(device)
    sampler = NegativeSampler(users, items, graph.n_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    def train_one(epoch: int) -> dict[str, float]:
        return train_epoch(model, optimizer, sampler, users, items, config.batch_size, epoch - 1)

    def validate(epoch: int) -> dict[str, float]:
        res = evaluate_cf(model, dataset, "valid", protocol, device, config.eval_batch_size)
        return {k: v for k, v in res.metrics.items() if k.startswith(("recall", "ndcg"))}

    loop = FitConfig(epochs=config.epochs, eval_every=config.eval_every, patience=config.patience,
                     select_metric=config.select_metric, time_limit_s=config.time_limit_s, progress=config.progress,
                     desc=f"{model.backbone.name}+{model.alignment.name}")
    identity = {"model": type(model.backbone).__name__, "alignment": model.alignment.name, "n_users": graph.n_users,
                "n_items": graph.n_items, "n_train": int(users.numel()), "config": asdict(config) | {"progress": None}}
    out = fit(train_one, validate, loop, TrainingState({"model": model, "optimizer": optimizer}),
                  checkpoint_dir, identity)
    valid = evaluate_cf(model, dataset, "valid", protocol, device, config.eval_batch_size)
    test = evaluate_cf(model, dataset, "test", protocol, device, config.eval_batch_size)
    return CFTrainResult(history=out.history, best_epoch=out.best_epoch, valid=valid, test=test, epochs_run=out.epochs_run,
                       seconds_per_epoch=out.seconds_per_epoch, train_seconds=out.train_seconds, config=asdict(config),
                       status=out.status, resumed_from=out.resumed_from)
