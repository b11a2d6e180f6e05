"""LEARN training: contrastive pretraining (in-batch softmax) and finetuning (full softmax), one loop.

Under Hugging Face Accelerate: ``accelerate launch`` runs it data-parallel (each process takes its share
of the users, gradients synchronised by the prepared model); a plain single process runs the same code.
Mixed precision (bf16, else fp16) on GPU. Model selection uses the validation split only (the released
code monitors the test split; we never look at test before the final evaluation).

A training example cuts one user's training sequence at a random position t: the history ``seq[:t]``
(its last ``max_len`` items) predicts ``seq[t]``. As in the released data loaders, pretraining draws t
from the second half of the sequence (``t >= len // 2``) and finetuning from any position (``t >= 1``);
an epoch draws ``samples_per_user`` cuts per user. Cuts are built on the device by index arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data import InteractionDataset
from ..eval import EvalResult
from ..seqrec import SEQ_PROTOCOL, LeaveOneOut, evaluate_encoder, in_batch_softmax_loss
from ..seqrec.evaluate import VALID_KEYS
from ..seqrec.losses import target_log_frequency
from ..train import FitConfig, TrainingState, checkpoint_name, fit, make_accelerator, stop_agreement
from .model import LearnModel

STAGES = ("pretrain", "finetune")


@dataclass(kw_only=True)
class LearnTrainConfig:
    """One training stage. ``stage``: ``pretrain`` (in-batch softmax, duplicate targets masked) or
    ``finetune`` (full softmax over the catalogue, history items excluded from the negatives when
    ``history_not_negatives``, as in the released code). Defaults equal notebooks 40/41's parameters cells (their
    documented home; tests/learn checks that they agree); what the two stages set apart (epochs, lr, warm-up) has none,
    nor has ``mask_history``, the evaluation protocol of the selection (notebook 40's ``MASK_HISTORY``, which 41 takes
    over from 40's record): True masks the user's history when ranking, False ranks it too (Recformer's evaluator,
    behind LEARN's published numbers)."""

    stage: str = "pretrain"
    epochs: int
    batch_size: int = 128
    lr: float
    weight_decay: float = 0.0
    warmup_epochs: float
    samples_per_user: int = 2
    logit_scale: float = 20.0
    history_not_negatives: bool = True
    cut_from: str = "auto"         # auto (pretrain: second half; finetune: any) | second_half | any
    eval_every: int = 2
    patience: int = 3               # evaluations without improvement before stopping (0: never stop)
    mask_history: bool              # validation (selection) protocol: True masks the history when ranking
    select_metric: str = "ndcg@10"
    time_limit_s: float | None = None  # training-time budget; the run ends ``capped`` and a re-run resumes
    logq_correction: bool = False   # pretrain: subtract log q(item) from in-batch logits (not in the paper)
    mixed_precision: str = "auto"   # auto (bf16/fp16 on GPU, none on CPU) | no | fp16 | bf16
    grad_clip: float = 1.0
    seed: int = 2023

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"LearnTrainConfig.stage={self.stage!r}; choose one of {STAGES}")
        if self.cut_from not in ("auto", "second_half", "any"):
            raise ValueError(f"LearnTrainConfig.cut_from={self.cut_from!r}; use auto | second_half | any")

    @property
    def second_half_cuts(self) -> bool:
        """Whether cuts come from the second half of a sequence: pretraining's range under ``auto`` (paper:
        history = the first part, targets from the later part); finetuning cuts anywhere."""
        return self.cut_from == "second_half" or (self.cut_from == "auto" and self.stage == "pretrain")


@dataclass
class LearnTrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("-inf")
    seconds: float = 0.0
    steps: int = 0
    epochs_run: int = 0
    status: str = "completed"  # converged | completed | capped (see lmrec.train)


class SequenceTable:
    """All training sequences as one right-padded tensor on the device, for cutting examples by index."""

    def __init__(self, sequences: list[np.ndarray], device: torch.device):
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        width = max(1, int(lengths.max(initial=0)))
        table = np.zeros((len(sequences), width), dtype=np.int64)
        for row, seq in enumerate(sequences):
            table[row, :len(seq)] = seq
        self.table = torch.as_tensor(table, device=device)
        self.lengths = torch.as_tensor(lengths, device=device)

    def cut(self, users: torch.Tensor, t: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """History ids ``[B, max_len]`` (right padded, last ``max_len`` items of ``seq[:t]``), mask, target ``seq[t]``."""
        h = torch.clamp(t, max=max_len)
        pos = torch.arange(max_len, device=t.device)[None]
        idx = (t - h)[:, None] + pos
        mask = pos < h[:, None]
        ids = self.table[users[:, None], idx.clamp(max=self.table.shape[1] - 1)] * mask
        return ids, mask, self.table[users, t]


def trainable_users(lengths: torch.Tensor) -> torch.Tensor:
    """Users with at least two training items: a cut needs one item of history and one target after it."""
    return torch.nonzero(lengths >= 2).flatten()


def draw_cuts(lengths: torch.Tensor, users: torch.Tensor, second_half: bool, generator: torch.Generator) -> torch.Tensor:
    """A random cut position per user: uniform on [len // 2, len - 1] (second half) or [1, len - 1]."""
    n = lengths[users]
    lo = torch.clamp(n // 2, min=1) if second_half else torch.ones_like(n)
    u = torch.rand(len(users), generator=generator).to(n.device)
    return lo + torch.floor(u * (n - lo).float()).long()


def history_exclusion(ids: torch.Tensor, mask: torch.Tensor, n_items: int) -> torch.Tensor:
    """Boolean ``[B, n_items]``: True for the items in each row's history."""
    out = torch.zeros(ids.shape[0], n_items + 1, dtype=torch.bool, device=ids.device)
    out.scatter_(1, torch.where(mask, ids, torch.full_like(ids, n_items)), True)
    return out[:, :n_items]


def finetune_loss(model: LearnModel, ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor,
                  scale: float, history_not_negatives: bool) -> torch.Tensor:
    """Full softmax over all items (item tower applied to the whole catalogue), history optionally excluded."""
    users, items = model(ids, mask)
    logits = scale * users @ items.T
    if history_not_negatives:
        excl = history_exclusion(ids, mask, items.shape[0]) & ~F.one_hot(target, items.shape[0]).bool()
        logits = logits.masked_fill(excl, float("-inf"))
    return F.cross_entropy(logits, target)


def pretrain_loss(model: LearnModel, ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor,
                  scale: float, log_q: torch.Tensor | None = None) -> torch.Tensor:
    """In-batch softmax between user vectors and the targets' item vectors, duplicate targets masked;
    with ``log_q`` the logQ popularity correction (a deviation, off in the paper's setting)."""
    users, items = model(ids, mask, target)
    return in_batch_softmax_loss(users, items, target, scale, log_q)


@torch.no_grad()
def evaluate_towers(model: LearnModel, dataset: InteractionDataset, split: str, loo: LeaveOneOut | None = None,
                   max_len: int = 40, batch_size: int = 256, *, mask_history: bool) -> EvalResult:
    """Full-ranking metrics of the towers on ``split``. ``mask_history`` (no default: the protocol is the caller's
    choice, notebook 40's ``MASK_HISTORY``): True masks the history (train for valid, train + valid for test), False
    ranks the target among all items, history included, as Recformer's ``Ranker`` (LEARN's published protocol)."""
    was_training = model.training
    model.eval()
    device = model.content.device
    items = model.items()
    result = evaluate_encoder(model.users, items, dataset, split, max_len, SEQ_PROTOCOL, device, batch_size,
                              side="right", loo=loo, mask_history=mask_history)
    model.train(was_training)
    return result


def train(model: LearnModel, dataset: InteractionDataset, config: LearnTrainConfig, max_len: int = 40,
          device: torch.device | str = "cpu", accelerator=None, loo: LeaveOneOut | None = None,
          on_eval: Callable[[dict], None] | None = None, progress: bool = False,
          checkpoint_dir: str | Path | None = None) -> LearnTrainResult:
    """Train ``model`` for one stage through the engine (:func:`lmrec.train.fit`: validation, selection on
    ``select_metric``, patience, time budget, checkpoints in ``checkpoint_dir`` and resume).

    Returns the history (loss per epoch, validation metrics per evaluation) and the best epoch; the model
    is left holding the best state.
    """
    device = torch.device(device)
    accelerator = accelerator or make_accelerator(device, config.mixed_precision)
    loo = loo or LeaveOneOut.from_dataset(dataset)
    model.to(accelerator.device)
    seqs = SequenceTable(loo.train, accelerator.device)
    users_all = trainable_users(seqs.lengths)
    if len(users_all) == 0:
        raise ValueError(f"dataset {dataset.name}: no user has two training items; nothing to train on")
    n_procs, rank = accelerator.num_processes, accelerator.process_index
    per_epoch = math.ceil(len(users_all) * config.samples_per_user / (config.batch_size * n_procs))
    total = max(1, per_epoch * config.epochs)
    warmup = int(config.warmup_epochs * per_epoch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (
        1 + math.cos(math.pi * min(1.0, s / total))))
    wrapped, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    second_half = config.second_half_cuts
    gen = torch.Generator().manual_seed(config.seed)
    result = LearnTrainResult()
    log_q = target_log_frequency(loo.train, dataset.n_items).to(accelerator.device) if config.logq_correction else None

    def train_epoch(epoch: int) -> dict[str, float]:
        wrapped.train()
        users = users_all.repeat(config.samples_per_user)
        users = users[torch.randperm(len(users), generator=gen).to(users.device)]
        cuts = draw_cuts(seqs.lengths, users, second_half, gen)
        users, cuts = users[rank::n_procs], cuts[rank::n_procs]
        losses = []
        for start in range(0, len(users), config.batch_size):
            ids, mask, target = seqs.cut(users[start:start + config.batch_size], cuts[start:start + config.batch_size], max_len)
            with accelerator.autocast():
                if config.stage == "pretrain":
                    loss = pretrain_loss(wrapped, ids, mask, target, config.logit_scale, log_q)
                else:
                    loss = finetune_loss(wrapped, ids, mask, target, config.logit_scale, config.history_not_negatives)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if config.grad_clip:
                accelerator.clip_grad_norm_(wrapped.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(loss.detach())
        return {"loss": float(torch.stack(losses).mean()), "lr": scheduler.get_last_lr()[0]}

    def validate(epoch: int) -> dict[str, float]:
        metrics = evaluate_towers(accelerator.unwrap_model(wrapped), dataset, "valid", loo, max_len,
                                  mask_history=config.mask_history).metrics
        return {k: metrics[k] for k in (*VALID_KEYS, config.select_metric) if k in metrics}

    loop = FitConfig(epochs=config.epochs, eval_every=config.eval_every, patience=config.patience,
                     select_metric=config.select_metric, time_limit_s=config.time_limit_s,
                     progress=progress and accelerator.is_main_process, desc=f"LEARN {config.stage}")
    identity = {"method": "learn", "n_users": dataset.n_users, "n_items": dataset.n_items, "max_len": max_len,
                "processes": n_procs, "config": asdict(config)}
    state = TrainingState({"model": accelerator.unwrap_model(wrapped), "optimizer": optimizer, "scheduler": scheduler},
                          {"cuts": gen})
    out = fit(train_epoch, validate, loop, state, checkpoint_dir, identity, on_record=on_eval,
              checkpoint_name=checkpoint_name(accelerator), agree=stop_agreement(accelerator))
    result.history, result.best_epoch, result.best_metric = out.history, out.best_epoch, out.best_metric
    result.seconds, result.status, result.epochs_run = out.train_seconds, out.status, out.epochs_run
    result.steps = out.epochs_run * per_epoch
    return result


def config_dict(config: LearnTrainConfig) -> dict:
    return asdict(config)
