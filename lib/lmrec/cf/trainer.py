"""The one trainer of every graph CF backbone x alignment.

Per epoch: shuffle all training interactions on the device, draw one negative each
(:class:`~lmrec.cf.sampling.NegativeSampler`), Adam steps over batches of ``batch_size`` triples. Every
``eval_every`` epochs: full-ranking validation Recall@20 (:mod:`lmrec.eval`); the best state is kept, and
training stops after ``patience`` evaluations without improvement (RLMRec: ``test_step`` 3, ``patience``
5). Then the best state is restored and the test split evaluated once. Losses are summed on the device
and read once per epoch (no per-batch host sync).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from ..eval import EvalResult, Protocol, evaluate_split
from .backbone import Batch
from .model import CFModel
from .sampling import NegativeSampler


@dataclass
class TrainConfig:
    """Optimisation and model-selection settings (RLMRec defaults: Adam 1e-3, batch 4096, eval every 3
    epochs, patience 5 evaluations)."""

    epochs: int = 100
    batch_size: int = 4096
    lr: float = 1e-3
    eval_every: int = 3
    patience: int = 5
    select_metric: str = "recall@20"
    eval_batch_size: int = 1024
    progress: bool = True
    time_limit_s: float | None = None  # stop (then restore the best state) once training time passes this

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class TrainResult:
    history: list[dict[str, float]]
    best_epoch: int
    valid: EvalResult
    test: EvalResult
    epochs_run: int
    seconds_per_epoch: float
    train_seconds: float
    config: dict = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        return {"best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
                "seconds_per_epoch": round(self.seconds_per_epoch, 4), "train_seconds": round(self.train_seconds, 2)}


def train_epoch(model: CFModel, optimizer: torch.optim.Optimizer, sampler: NegativeSampler, users: torch.Tensor,
                items: torch.Tensor, batch_size: int, epoch: int) -> dict[str, float]:
    """One pass over all training interactions; returns the mean of each loss part over batches."""
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
    return {k: float(v) / n_batches for k, v in sums.items()}


def evaluate_model(model: CFModel, dataset, split: str, protocol: Protocol, device: torch.device,
                   batch_size: int = 1024) -> EvalResult:
    model.eval()
    return evaluate_split(model.scorer(), dataset, split, protocol, device, batch_size)


def fit(model: CFModel, dataset, config: TrainConfig, protocol: Protocol | None = None,
        device: torch.device | str = "cpu") -> TrainResult:
    """Train ``model`` on ``dataset.train`` with early stopping on validation, restore the best state and
    evaluate the test split once. ``model`` must already be on ``device``."""
    protocol = protocol or Protocol()
    device = torch.device(device)
    graph = model.backbone.graph
    users, items = graph.train_users.to(device), graph.train_items.to(device)
    sampler = NegativeSampler(users, items, graph.n_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[dict[str, float]] = []
    best, best_epoch, best_state, bad = -float("inf"), -1, None, 0
    t_train, epochs_run = 0.0, 0
    bar = tqdm(range(config.epochs), desc=f"{model.backbone.name}+{model.alignment.name}", disable=not config.progress)
    for epoch in bar:
        t0 = time.perf_counter()
        row: dict[str, float] = {"epoch": epoch + 1, **train_epoch(model, optimizer, sampler, users, items,
                                                                    config.batch_size, epoch)}
        t_train += time.perf_counter() - t0
        epochs_run = epoch + 1
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            res = evaluate_model(model, dataset, "valid", protocol, device, config.eval_batch_size)
            row.update({f"valid_{k}": v for k, v in res.metrics.items() if k.startswith(("recall", "ndcg"))})
            score = res.metrics[config.select_metric]
            if score > best:
                best, best_epoch, bad = score, epoch + 1, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
            bar.set_postfix(loss=f"{row['loss']:.4f}", val=f"{score:.4f}", best=f"{best:.4f}@{best_epoch}")
        history.append(row)
        if bad >= config.patience:
            break
        if config.time_limit_s is not None and t_train >= config.time_limit_s:
            if "valid_recall@20" not in row:  # validate the last state before stopping
                res = evaluate_model(model, dataset, "valid", protocol, device, config.eval_batch_size)
                row.update({f"valid_{k}": v for k, v in res.metrics.items() if k.startswith(("recall", "ndcg"))})
                if res.metrics[config.select_metric] > best:
                    best, best_epoch = res.metrics[config.select_metric], epoch + 1
                    best_state = copy.deepcopy(model.state_dict())
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    valid = evaluate_model(model, dataset, "valid", protocol, device, config.eval_batch_size)
    test = evaluate_model(model, dataset, "test", protocol, device, config.eval_batch_size)
    return TrainResult(history=history, best_epoch=best_epoch, valid=valid, test=test, epochs_run=epochs_run,
                       seconds_per_epoch=t_train / max(1, epochs_run), train_seconds=t_train, config=asdict(config))
