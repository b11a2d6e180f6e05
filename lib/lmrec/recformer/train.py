"""Recformer pretraining and two-stage finetuning under Hugging Face Accelerate.

One code path for a single process (CPU or one GPU) and ``accelerate launch`` (several processes: the
contrastive loss gathers both views from all processes, as the original code does). Mixed precision on GPU
(bf16 where supported, else fp16), full precision on CPU.

Pretraining (paper Sec. 3.3.1): for each user sequence a target position t is drawn uniformly from
``[(n-1)//2, n-1]``; view a = items before t, view b = item t. Loss = CL(a, b) + 0.1 (MLM_a + MLM_b) with
whole-word masking on both views (4 encoder passes per step, as in the original model).

Finetuning (Sec. 3.3.2, Algorithm 1): stage 1 re-encodes every item into a frozen table at the start of
each epoch and trains the encoder with a full softmax over that table; stage 2 restores the best stage-1
state (encoder + table) and trains the encoder against that fixed table. Validation NDCG@10 picks the best
state across both stages, with patience 5 and 3 evaluations; each stage is a run of the training engine
(:mod:`lmrec.train`: checkpoints, resume, time budget).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..eval import EvalResult, Protocol, evaluate
from ..eval.ranking import exclusion
from ..train import FitConfig, TensorHolder, TrainingState, checkpoint_name, fit, stop_agreement
from .config import RecformerConfig
from .model import Recformer, contrastive_loss, cosine_logits, finetune_loss, mlm_loss
from .tokenization import TokenizedItems, collate, encode_sequence, whole_word_mask


@dataclass
class RecformerTrainConfig:
    """Optimisation settings (original: lr 5e-5, batch 16, warmup 100, weight decay 0). A default here equals the
    parameters cell of notebooks 30/31 (tests/test_one_default.py); the per-epoch step cap has none (31's
    ``STEPS_PER_EPOCH`` is a CPU budget: say ``None`` for every user once per epoch)."""

    max_steps_per_epoch: int | None    # cap (CPU budgets); None = every user once per epoch
    lr: float = 5e-5
    weight_decay: float = 0.0
    batch_size: int = 16
    eval_batch_size: int = 128
    warmup_steps: int = 100
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0
    mixed_precision: str = "auto"      # auto | no | fp16 | bf16 (auto: bf16/fp16 on CUDA, no on CPU)
    fix_word_embedding: bool = False   # the original's --fix_word_embedding

    def to_dict(self) -> dict:
        return asdict(self)


class _Inputs:
    """Builds model inputs from item-id histories (tokens of all items are precomputed)."""

    def __init__(self, items: TokenizedItems, config: RecformerConfig, tokenizer):
        self.items, self.config = items, config
        self.cls_id, self.pad_id = tokenizer.cls_token_id, tokenizer.pad_token_id
        self.mask_id, self.vocab = tokenizer.mask_token_id, len(tokenizer)

    def batch(self, histories: Sequence[Sequence[int] | np.ndarray]) -> dict[str, torch.Tensor]:
        return collate([encode_sequence(h, self.items, self.config, self.cls_id) for h in histories], self.config, self.pad_id)

    def single_items(self, ids: Sequence[int]) -> dict[str, torch.Tensor]:
        return self.batch([[int(i)] for i in ids])


def _model_inputs(batch: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "word_start"}


class PretrainObjective(nn.Module):
    """CL(a, b) + mlm_weight * (MLM_a + MLM_b); one forward so that DDP sees a single graph."""

    def __init__(self, model: Recformer):
        super().__init__()
        self.model = model

    def forward(self, a: dict, b: dict, mlm_a: torch.Tensor, labels_a: torch.Tensor, mlm_b: torch.Tensor,
                labels_b: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.model.config
        z_a = self.model.encode(a)
        z_b = self.model.encode(b)
        z_a_all, z_b_all = _gather_with_grad(z_a), _gather_with_grad(z_b)
        cl = contrastive_loss(z_a_all, z_b_all, cfg.temperature)
        with torch.no_grad():
            acc = (cosine_logits(z_a_all, z_b_all, cfg.temperature).argmax(1) == torch.arange(len(z_a_all), device=z_a.device)).float().mean()
        m_a = self.mlm(a, mlm_a, labels_a)
        m_b = self.mlm(b, mlm_b, labels_b)
        return {"loss": cl + cfg.mlm_weight * (m_a + m_b), "cl": cl, "mlm_a": m_a, "mlm_b": m_b, "cl_acc": acc}


    def mlm(self, batch: dict, masked_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """MLM loss of one view; the vocabulary projection runs on the masked positions only (the other
        positions carry label -100 and add nothing to the loss)."""
        hidden = self.model(**{**batch, "input_ids": masked_ids})
        chosen = labels != -100
        return mlm_loss(self.model.lm_head(hidden[chosen]), labels[chosen])


class FinetuneObjective(nn.Module):
    """Full softmax of user vectors over a frozen item table (paper Eq. 7)."""

    def __init__(self, model: Recformer):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, item_table: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return finetune_loss(self.model.encode(batch), item_table, targets, self.model.config.temperature)


def _gather_with_grad(z: torch.Tensor) -> torch.Tensor:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(z.contiguous()), 0)
    return z


def _optimizer(model: nn.Module, tcfg: RecformerTrainConfig, total_steps: int):
    from transformers import get_linear_schedule_with_warmup

    if tcfg.fix_word_embedding:
        model.embeddings.word_embeddings.weight.requires_grad_(False)
    decay, no_decay = [], []
    seen = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tcfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tcfg.lr)
    sched = get_linear_schedule_with_warmup(opt, min(tcfg.warmup_steps, max(1, total_steps // 10)) if total_steps else 0, max(1, total_steps))
    return opt, sched


def _step(accelerator, loss, model, optimizer, scheduler, tcfg: RecformerTrainConfig) -> None:
    accelerator.backward(loss)
    if accelerator.sync_gradients and tcfg.max_grad_norm:
        accelerator.clip_grad_norm_(model.parameters(), tcfg.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


# ------------------------------------------------------------------------------------------ pretraining
def pretrain_pairs(sequences: Sequence[np.ndarray], rng: np.random.Generator) -> tuple[list[np.ndarray], list[int]]:
    """Original sampling: t ~ U[(n-1)//2, n-1]; history = seq[:t], target = seq[t]."""
    hist, targets = [], []
    for seq in sequences:
        n = len(seq)
        t = int(rng.integers((n - 1) // 2, n))
        hist.append(seq[:t])
        targets.append(int(seq[t]))
    return hist, targets


def pretrain(model: Recformer, tokenizer, items: TokenizedItems, sequences: Sequence[np.ndarray], tcfg: RecformerTrainConfig,
             accelerator, epochs: int = 1, max_steps: int | None = None, seed: int = 2023,
             progress: bool = True, checkpoint_dir: str | Path | None = None,
             time_limit_s: float | None = None) -> list[dict]:
    """Pretrain on user sequences (item ids in time order; users with fewer than 2 items are skipped), one
    engine epoch per pass over the users (checkpoints in ``checkpoint_dir``, resume, time budget).
    Returns one record per optimizer step (loss, cl, mlm_a, mlm_b, cl_acc, lr, step, epoch)."""
    cfg = model.config
    seqs = [np.asarray(s, dtype=np.int64) for s in sequences if len(s) >= 2]
    if not seqs:
        raise ValueError("pretraining needs user sequences with at least 2 items")
    per_epoch = math.ceil(len(seqs) / tcfg.batch_size)
    if tcfg.max_steps_per_epoch:
        per_epoch = min(per_epoch, tcfg.max_steps_per_epoch)
    total = per_epoch * epochs if max_steps is None else min(per_epoch * epochs, max_steps)
    opt, sched = _optimizer(model, tcfg, math.ceil(total / tcfg.grad_accum))
    objective, opt, sched = accelerator.prepare(PretrainObjective(model), opt, sched)
    inputs = _Inputs(items, cfg, tokenizer)
    rng = np.random.default_rng(seed + accelerator.process_index)
    steps = _StepLog()  # per-step records, part of the checkpoint
    rank, n_procs, dev = accelerator.process_index, accelerator.num_processes, accelerator.device

    def train_epoch(epoch: int) -> dict[str, float]:
        objective.train()
        # the same permutation in every process (shared seed), each process takes its own share
        order = np.random.default_rng([seed, epoch - 1]).permutation(len(seqs))[rank::n_procs]
        first = len(steps.rows)
        for start in range(0, len(order), tcfg.batch_size):
            if len(steps.rows) >= total or (tcfg.max_steps_per_epoch and start // tcfg.batch_size >= tcfg.max_steps_per_epoch):
                break
            hist, targets = pretrain_pairs([seqs[i] for i in order[start:start + tcfg.batch_size]], rng)
            a, b = inputs.batch(hist), inputs.single_items(targets)
            mlm_a, lab_a = whole_word_mask(a, cfg.mlm_probability, inputs.mask_id, inputs.vocab, rng)
            mlm_b, lab_b = whole_word_mask(b, cfg.mlm_probability, inputs.mask_id, inputs.vocab, rng)
            with accelerator.accumulate(objective):
                out = objective(_model_inputs(a, dev), _model_inputs(b, dev), mlm_a.to(dev), lab_a.to(dev),
                                mlm_b.to(dev), lab_b.to(dev))
                _step(accelerator, out["loss"], objective, opt, sched, tcfg)
            rec = {k: float(v.detach()) for k, v in out.items()}
            rec.update(step=len(steps.rows), epoch=epoch - 1, lr=sched.get_last_lr()[0])
            steps.rows.append(rec)
        done = steps.rows[first:]
        return {k: float(np.mean([r[k] for r in done])) if done else float("nan")
                for k in ("loss", "cl", "mlm_a", "mlm_b", "cl_acc")}

    epochs_needed = max(1, math.ceil(total / per_epoch))
    loop = FitConfig(epochs=epochs_needed, time_limit_s=time_limit_s, progress=progress and accelerator.is_main_process,
                     desc="pretrain")
    identity = {"method": "recformer-pretrain", "n_sequences": len(seqs), "n_items": items.n_items, "total": total,
                "processes": n_procs, "train": tcfg.to_dict(), "epochs": epochs, "max_steps": max_steps, "seed": seed}
    state = TrainingState({"model": model, "optimizer": opt, "scheduler": sched, "steps": steps}, {"pairs": rng}, best=())
    fit(train_epoch, None, loop, state, checkpoint_dir, identity,
                 checkpoint_name=checkpoint_name(accelerator, "checkpoint-pretrain"), agree=stop_agreement(accelerator))
    return steps.rows


class _StepLog:
    """Per-step records of pretraining as a checkpointable object."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def state_dict(self) -> dict:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [dict(r) for r in state["rows"]]


# ----------------------------------------------------------------------------------------- encoding/eval
@torch.no_grad()
def encode_items(model: Recformer, tokenizer, items: TokenizedItems, batch_size: int = 64,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """Every item as a one-item sequence ``<s> item`` -> its vector ``[n_items, H]`` (eval mode)."""
    device = device or next(model.parameters()).device
    inputs = _Inputs(items, model.config, tokenizer)
    was = model.training
    model.eval()
    out = [model.encode(_model_inputs(inputs.single_items(range(s, min(s + batch_size, items.n_items))), device)).float()
           for s in range(0, items.n_items, batch_size)]
    model.train(was)
    return torch.cat(out)


@torch.no_grad()
def encode_histories(model: Recformer, tokenizer, items: TokenizedItems, histories: Sequence[np.ndarray],
                     batch_size: int = 64, device: torch.device | str | None = None) -> torch.Tensor:
    """User vectors ``[len(histories), H]``; sequences are sorted by length so batches pad little."""
    device = device or next(model.parameters()).device
    inputs = _Inputs(items, model.config, tokenizer)
    was = model.training
    model.eval()
    order = np.argsort([len(h) for h in histories], kind="stable")
    vecs = torch.empty(len(histories), model.spec.hidden_size, device=device)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        vecs[torch.as_tensor(idx, device=device)] = model.encode(_model_inputs(inputs.batch([histories[i] for i in idx]), device)).float()
    model.train(was)
    return vecs


def evaluate_recformer(model: Recformer, tokenizer, items: TokenizedItems, dataset, split: str, histories,
                       protocol: Protocol, mask_history: bool = False, item_table: torch.Tensor | None = None,
                       batch_size: int = 64, device=None, both: bool = False) -> EvalResult | dict[str, EvalResult]:
    """Full ranking of all items by ``cos(user, item)`` on ``split``.

    ``mask_history=False`` is Recformer's own evaluation (its ``Ranker`` ranks the target among all item
    scores; history items are not removed); ``True`` masks the user's history (train items at validation,
    train + valid at test) like the other sequential rows. ``both=True`` returns both, keyed
    ``recformer`` / ``masked``, from one encoding pass."""
    device = device or next(model.parameters()).device
    table = item_table if item_table is not None else encode_items(model, tokenizer, items, batch_size, device)
    users = encode_histories(model, tokenizer, items, histories, batch_size, device)
    u, t = nn.functional.normalize(users, dim=-1), nn.functional.normalize(table.to(device).float(), dim=-1)

    def score(ids: torch.Tensor) -> torch.Tensor:
        return u[ids.to(device)] @ t.T

    targets = dataset.matrix(split)
    masked = exclusion(dataset, split, Protocol(ks=protocol.ks, recall_denominator=protocol.recall_denominator,
                                                  mask_valid_at_test=True))
    if both:
        return {"recformer": evaluate(score, targets, None, protocol, device, 1024, split),
                "masked": evaluate(score, targets, masked, protocol, device, 1024, split)}
    return evaluate(score, targets, masked if mask_history else None, protocol, device, 1024, split)


# ------------------------------------------------------------------------------------------- finetuning
@dataclass
class FinetuneResult:
    history: list[dict] = field(default_factory=list)
    best_valid: float = float("-inf")
    best_stage: int = 0
    best_epoch: int = -1             # 1-based within its stage
    item_table: torch.Tensor | None = None
    status: str = "completed"        # of the last stage run: converged | completed | capped


def finetune_samples(sequences: Sequence[np.ndarray], rng: np.random.Generator) -> tuple[list[np.ndarray], list[int]]:
    """Original sampling: one target per user and epoch, t ~ U[0, n-1]; history = seq[:t] (may be empty)."""
    hist, targets = [], []
    for seq in sequences:
        t = int(rng.integers(0, len(seq)))
        hist.append(seq[:t])
        targets.append(int(seq[t]))
    return hist, targets


def finetune(model: Recformer, tokenizer, items: TokenizedItems, dataset, train_sequences: Sequence[np.ndarray],
             valid_histories: Sequence[np.ndarray], protocol: Protocol, tcfg: RecformerTrainConfig, accelerator,
             stage1_epochs: int = 16, stage2_epochs: int = 16, eval_every: int = 1, patience: tuple[int, int] = (5, 3),
             metric: str = "ndcg@10", mask_history: bool = False, seed: int = 2023, progress: bool = True,
             checkpoint_dir: str | Path | None = None, time_limit_s: float | None = None) -> FinetuneResult:
    """Two-stage finetuning, each stage a run of the engine (:func:`lmrec.train.fit`) with its own patience;
    stage 2 starts from the best stage-1 state and keeps a state only if it beats stage 1's best. The model
    ends in its best validation state (``result.item_table`` its table). ``checkpoint_dir``: checkpoints
    per stage and resume; ``time_limit_s``: one budget over both stages (the run ends ``capped``)."""
    cfg = model.config
    users = [i for i, s in enumerate(train_sequences) if len(s) >= 1]
    steps = math.ceil(len(users) / (tcfg.batch_size * accelerator.num_processes))
    if tcfg.max_steps_per_epoch:
        steps = min(steps, tcfg.max_steps_per_epoch)
    # the MLM head is not part of the finetuning loss: freeze it (DDP requires every trained weight to get a
    # gradient); its decoder is the word-embedding table, which stays trainable
    for p in (*model.lm_head.dense.parameters(), *model.lm_head.layer_norm.parameters(), model.lm_head.bias):
        p.requires_grad_(False)
    # one schedule across both stages (the original sizes it for one stage, so stage 2 can run at lr 0)
    opt, sched = _optimizer(model, tcfg, math.ceil(steps * (stage1_epochs + stage2_epochs) / tcfg.grad_accum))
    objective, opt, sched = accelerator.prepare(FinetuneObjective(model), opt, sched)
    inputs = _Inputs(items, cfg, tokenizer)
    rng = np.random.default_rng(seed + accelerator.process_index)
    res = FinetuneResult()
    dev = accelerator.device
    table = TensorHolder()
    n_procs, rank = accelerator.num_processes, accelerator.process_index

    def train_one_epoch(stage: int, epoch: int) -> float:
        objective.train()
        shared = np.random.default_rng([seed, stage, epoch])  # same order in every process; each takes its share
        order = shared.permutation(users)[rank::n_procs]
        losses = []
        for k, start in enumerate(range(0, len(order), tcfg.batch_size)):
            if k >= steps:
                break
            hist, targets = finetune_samples([train_sequences[i] for i in order[start:start + tcfg.batch_size]], rng)
            with accelerator.accumulate(objective):
                loss = objective(_model_inputs(inputs.batch(hist), dev), table.value, torch.as_tensor(targets, device=dev))
                _step(accelerator, loss, objective, opt, sched, tcfg)
            losses.append(float(loss.detach()))
        return float(np.mean(losses)) if losses else float("nan")

    def validate(epoch: int) -> dict[str, float]:
        r = evaluate_recformer(model, tokenizer, items, dataset, "valid", valid_histories, protocol, mask_history,
                               item_table=table.value, batch_size=tcfg.eval_batch_size, device=dev)
        return r.metrics

    state = TrainingState({"model": model, "optimizer": opt, "scheduler": sched, "table": table}, {"samples": rng},
                          best=("model", "table"))
    identity = {"method": "recformer-finetune", "n_users": len(users), "n_items": items.n_items, "steps": steps,
                "processes": n_procs, "train": tcfg.to_dict(), "stages": [stage1_epochs, stage2_epochs],
                "patience": list(patience), "metric": metric, "mask_history": mask_history, "seed": seed}
    spent, best = 0.0, None
    for stage, epochs, wait in ((1, stage1_epochs, patience[0]), (2, stage2_epochs, patience[1])):
        if stage == 2 and best is None:  # stage 1 never validated: there is no best table to fix
            break

        def train_epoch(epoch: int, stage: int = stage) -> dict[str, float]:
            if stage == 1:  # stage 1 re-encodes every item into the frozen table before each epoch
                table.value = encode_items(model, tokenizer, items, tcfg.eval_batch_size, dev)
            return {"stage": stage, "loss": train_one_epoch(stage, epoch - 1), "lr": sched.get_last_lr()[0]}

        budget = None if time_limit_s is None else max(0.0, time_limit_s - spent)
        loop = FitConfig(epochs=epochs, eval_every=eval_every, patience=wait, select_metric=metric, time_limit_s=budget,
                         progress=progress and accelerator.is_main_process, desc=f"finetune stage {stage}")
        out = fit(train_epoch, validate, loop, state, checkpoint_dir, {**identity, "stage": stage},
                  checkpoint_name=checkpoint_name(accelerator, f"checkpoint-stage{stage}"),
                  agree=stop_agreement(accelerator), initial_best=best)
        spent += out.call_seconds
        res.history += out.history
        res.status = out.status
        if out.best_epoch > 0:
            res.best_valid, res.best_stage, res.best_epoch, best = out.best_metric, stage, out.best_epoch, out.best_metric
        if out.status == "capped":
            break
    res.item_table = table.value
    return res
