"""CLLM4Rec training: mutually-regularised pretraining, recommendation finetuning, scoring.

Single process or several (``accelerate launch``): every loop goes through one
:class:`accelerate.Accelerator`; users/documents are split evenly over processes each epoch and the
model is called through :class:`~lmrec.cllm4rec.model.TaskModel` so gradients are synchronised.
Pretraining follows the paper's alternation: optional content warm-up epochs, then per round one epoch of
the collaborative LM (regularised towards the content embeddings) and one of the content LM (regularised
towards the collaborative embeddings). Finetuning alternates recommendation epochs with content epochs
and keeps the tables with the best validation Recall@20 + Recall@40 + NDCG@100 (the original's rule), with
patience. Every schedule runs on the training engine (:mod:`lmrec.train`: checkpoints, resume, budget).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..eval import Protocol, evaluate_split
from ..train import (
    FitConfig,
    FitResult,
    TrainingState,
    checkpoint_name,
    fit,
    make_accelerator,
    stop_agreement,
)
from .documents import (
    collaborative_batch,
    content_batch,
    eval_rec_batch,
    group_by_prompt_length,
    masked_rec_batch,
)
from .model import CLLM4Rec, TaskModel, recommendation_scores
from .tokenizer import UserItemTokenizer

SELECTION_METRICS = ("recall@20", "recall@40", "ndcg@100")
SELECTION_KEY = "recall@20+recall@40+ndcg@100"  # the original's model-selection score (their sum)


@dataclass
class PretrainConfig:
    """Pretraining (original: lr 1e-3, batch 20, 10 content warm-up epochs, 100 rounds, lambda_V 1). Defaults
    equal notebook 50's parameters cell (their documented home; tests/cllm4rec checks that they agree)."""

    rounds: int = 1                 # alternating (collaborative epoch, content epoch) rounds
    content_warmup_epochs: int = 0  # content-only epochs before the rounds
    lr: float = 1e-3
    batch_size: int = 20
    max_items: int = 12             # items per collaborative document (a fresh random subset/order per epoch)
    max_content_tokens: int = 24    # main-text tokens per content document
    content_docs_per_epoch: int = 300  # 0: all documents; else a random subset per epoch (CPU budget)
    lambda_v: float = 1.0
    predict_first: bool = True      # paper: the prompt predicts the first item too (original code: False)
    users_per_epoch: int = 0        # 0: every user; else a random subset per epoch (CPU budget on big data)
    seed: int = 2023


@dataclass
class FinetuneConfig:
    """Finetuning (original: lr 1e-4, batch 20, 150 epochs, 20% of items masked, targets = all items). Defaults
    equal notebook 51's parameters cell and, for what 51 takes over from 50, notebook 50's (their documented
    home; tests/cllm4rec checks that they agree)."""

    epochs: int = 4
    lr: float = 1e-3
    content_lr: float = 1e-4
    batch_size: int = 20
    max_items: int = 12             # items listed in a prompt (training and evaluation)
    mask_ratio: float = 0.2
    targets: str = "all"            # masked (paper: the held-out items) | all (original code)
    lambda_v: float = 1.0
    content_epochs: int = 1         # content epochs after each recommendation epoch (0: none)
    max_content_tokens: int = 24
    content_docs_per_epoch: int = 300
    eval_batch_size: int = 64
    users_per_epoch: int = 0        # 0: every user; else a random subset per epoch
    eval_every: int = 1             # validate every N epochs
    patience: int = 2               # validations without improvement before stopping (0: run every epoch)
    time_limit_s: float | None = None  # training-time budget; the run ends ``capped`` and a re-run resumes
    seed: int = 2023


class CLLM4RecTrainer:
    """Runs the CLLM4Rec epochs on one model; ``log`` receives one dict per epoch."""

    def __init__(self, model: CLLM4Rec, tok: UserItemTokenizer, accelerator=None,
                 log: Callable[[dict], None] | None = None) -> None:
        self.model = model
        self.tok = tok
        self.acc = accelerator or make_accelerator("cpu", find_unused_parameters=True)
        self.task = self.acc.prepare(TaskModel(model))
        self.log = log or (lambda rec: None)
        self.history: list[dict] = []
        self.status = "completed"           # of the last pretrain/finetune call: converged | completed | capped
        self.fit_result: FitResult | None = None

    @property
    def device(self) -> torch.device:
        return self.acc.device

    def optimizer(self, table: str, lr: float) -> torch.optim.Optimizer:
        params = list(self.model.tables[table].parameters())
        if not self.model.freeze_lm and table == "collab":
            params += [p for p in self.model.lm.parameters() if p.requires_grad]
        return self.acc.prepare(torch.optim.Adam(params, lr=lr))

    # ------------------------------------------------------------- helpers
    def _shard(self, order: np.ndarray) -> np.ndarray:
        world, rank = self.acc.num_processes, self.acc.process_index
        per = len(order) // world
        return order[rank * per:(rank + 1) * per]

    def _step(self, opt, task: str, batch: dict, lambda_v: float, predict_first: bool = True) -> tuple[float, float]:
        opt.zero_grad(set_to_none=True)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        loss, reg = self.task(task=task, lambda_v=lambda_v, predict_first=predict_first, **batch)
        self.acc.backward(loss)
        opt.step()
        return float(loss.detach()), float(reg.detach())

    def _record(self, rec: dict) -> dict:
        self.history.append(rec)
        if self.acc.is_main_process:
            self.log(rec)
        return rec

    def _pass(self, opt, task: str, batches, lambda_v: float, predict_first: bool, count_tokens,
              record: dict) -> dict:
        """Train on each batch of ``batches`` (an iterable of built batches); log mean loss/reg and speed."""
        tot = totr = 0.0
        n = tokens = 0
        t0 = time.perf_counter()
        for batch in batches:
            loss, reg = self._step(opt, task, batch, lambda_v, predict_first)
            tot, totr, n = tot + loss, totr + reg, n + 1
            tokens += count_tokens(batch)
        sec = time.perf_counter() - t0
        return self._record({**record, "task": task, "loss": tot / max(n, 1), "reg": totr / max(n, 1),
                             "seconds": sec, "tokens_per_s": tokens / max(sec, 1e-9)})

    # -------------------------------------------------------------- epochs
    def collab_epoch(self, opt, items: Sequence[np.ndarray], cfg: PretrainConfig, rng: np.random.Generator,
                     epoch: int, stage: str = "pretrain") -> dict:
        """One pass of the collaborative LM over every user with training items."""
        self.model.train()
        users = rng.permutation([u for u in range(len(items)) if len(items[u])])
        users = self._shard(users[:cfg.users_per_epoch] if cfg.users_per_epoch else users)
        batches = (collaborative_batch(self.tok, bu, [items[u] for u in bu], cfg.max_items, rng)
                   for bu in (users[s:s + cfg.batch_size] for s in range(0, len(users), cfg.batch_size)))
        return self._pass(opt, "collab", batches, cfg.lambda_v, cfg.predict_first, _lm_tokens,
                          {"stage": stage, "epoch": epoch})

    def content_epoch(self, opt, docs: Sequence[tuple[str, str]], batch_size: int, max_tokens: int,
                      docs_per_epoch: int, lambda_v: float, rng: np.random.Generator, epoch: int,
                      stage: str = "pretrain", predict_first: bool = True) -> dict:
        """One pass of the content LM over the documents (batches of one prompt length)."""
        self.model.train()
        chosen = rng.permutation(len(docs))
        if docs_per_epoch:
            chosen = chosen[:docs_per_epoch]
        chosen = self._shard(chosen)
        groups = group_by_prompt_length(self.tok, [docs[k] for k in chosen])
        batches = [[chosen[k] for k in idx[s:s + batch_size]] for idx in groups.values()
                   for s in range(0, len(idx), batch_size)]
        batches = [batches[k] for k in rng.permutation(len(batches))] if batches else []
        if self.acc.num_processes > 1:  # every process must take the same number of steps
            counts = self.acc.gather(torch.tensor([len(batches)], device=self.device))
            batches = batches[:int(counts.min())]
        built = (content_batch(self.tok, [docs[k] for k in b], max_tokens) for b in batches)
        return self._pass(opt, "content", built, lambda_v, predict_first, _lm_tokens, {"stage": stage, "epoch": epoch})

    def rec_epoch(self, opt, items: Sequence[np.ndarray], cfg: FinetuneConfig, rng: np.random.Generator,
                  epoch: int) -> dict:
        """One pass of masked-prompt recommendation finetuning (multinomial likelihood)."""
        self.model.train()
        users = rng.permutation([u for u in range(len(items)) if len(items[u]) > 1])
        users = self._shard(users[:cfg.users_per_epoch] if cfg.users_per_epoch else users)
        batches = (masked_rec_batch(self.tok, bu, [items[u] for u in bu], self.model.n_items, cfg.max_items,
                                    cfg.mask_ratio, rng, cfg.targets)
                   for bu in (users[s:s + cfg.batch_size] for s in range(0, len(users), cfg.batch_size)))
        return self._pass(opt, "rec", batches, cfg.lambda_v, True, lambda b: int(b["attention_mask"].sum()),
                          {"stage": "finetune", "epoch": epoch})

    # ------------------------------------------------------------- scoring
    @torch.no_grad()
    def scores(self, users: Sequence[int], histories: Sequence[np.ndarray], max_items: int) -> torch.Tensor:
        """Item logits ``[B, J]`` from the deterministic prompt of each user (no training-item masking here)."""
        self.model.eval()
        ids, mask = eval_rec_batch(self.tok, [int(u) for u in users], histories, max_items)
        return recommendation_scores(self.model, ids.to(self.device), mask.to(self.device))

    def evaluate(self, dataset, split: str, histories: Sequence[np.ndarray], max_items: int, protocol: Protocol,
                 batch_size: int = 64):
        """Full-ranking evaluation of ``split`` with the shared evaluator (training items masked)."""
        return evaluate_split(lambda u: self.scores(u.tolist(), histories, max_items), dataset, split, protocol,
                              self.device, batch_size)

    # ------------------------------------------------------------ schedules
    def _state(self, optimizers: dict[str, torch.optim.Optimizer], rng: np.random.Generator) -> TrainingState:
        """What a checkpoint of these epochs holds: the trainable tables, optimizers, generator and log."""
        return TrainingState({"model": _Trainable(self.model), **optimizers, "log": _Log(self.history)},
                             {"rng": rng})

    def _identity(self, stage: str, cfg) -> dict:
        return {"method": "cllm4rec", "stage": stage, "n_users": self.model.n_users, "n_items": self.model.n_items,
                "processes": self.acc.num_processes, "config": asdict(cfg)}

    def _fit(self, body, validate, loop: FitConfig, state: TrainingState, checkpoint_dir, identity: dict,
             name: str) -> FitResult:
        return fit(body, validate, loop, state, checkpoint_dir, identity,
                   checkpoint_name=checkpoint_name(self.acc, f"checkpoint-{name}"), agree=stop_agreement(self.acc))

    def pretrain(self, items: Sequence[np.ndarray], docs: Sequence[tuple[str, str]], cfg: PretrainConfig,
                 checkpoint_dir: str | Path | None = None, time_limit_s: float | None = None) -> list[dict]:
        """Content warm-up, then ``rounds`` of (collaborative epoch, content epoch), each phase a run of the
        engine (checkpoints every epoch in ``checkpoint_dir``, resume, one time budget); returns the log."""
        rng = np.random.default_rng(cfg.seed)
        if not docs:  # no content corpus: nothing to regularise towards (collaborative part only)
            cfg = replace(cfg, lambda_v=0.0)
        opt_c = self.optimizer("collab", cfg.lr)
        opt_t = self.optimizer("content", cfg.lr)
        state = self._state({"opt_collab": opt_c, "opt_content": opt_t}, rng)
        spent = 0.0

        def warmup(e: int) -> dict[str, float]:
            rec = self.content_epoch(opt_t, docs, cfg.batch_size, cfg.max_content_tokens, cfg.content_docs_per_epoch,
                                     0.0, rng, e - 1, "warmup", cfg.predict_first)
            return {"loss": rec["loss"], "reg": rec["reg"]}

        def round_(r: int) -> dict[str, float]:
            rec = self.collab_epoch(opt_c, items, cfg, rng, r - 1)
            out = {"loss": rec["loss"], "reg": rec["reg"]}
            if docs:
                rec = self.content_epoch(opt_t, docs, cfg.batch_size, cfg.max_content_tokens, cfg.content_docs_per_epoch,
                                         cfg.lambda_v, rng, r - 1, "pretrain", cfg.predict_first)
                out.update(content_loss=rec["loss"], content_reg=rec["reg"])
            return out

        self.status = "completed"
        for name, epochs, body in (("warmup", cfg.content_warmup_epochs, warmup), ("pretrain", cfg.rounds, round_)):
            if epochs < 1:
                continue
            budget = None if time_limit_s is None else max(0.0, time_limit_s - spent)
            loop = FitConfig(epochs=epochs, eval_every=1, time_limit_s=budget, progress=False, desc=name)
            out = self._fit(body, None, loop, state, checkpoint_dir, self._identity(name, cfg), name)
            spent += out.call_seconds
            self.status = out.status
            if out.status == "capped":
                break
        return self.history

    def finetune(self, items: Sequence[np.ndarray], docs: Sequence[tuple[str, str]], cfg: FinetuneConfig,
                 dataset=None, protocol: Protocol | None = None, checkpoint_dir: str | Path | None = None
                 ) -> tuple[dict[str, torch.Tensor], dict]:
        """Recommendation epochs (+ content epochs) through the engine: validation every ``eval_every``
        epochs, selection on Recall@20 + Recall@40 + NDCG@100 (the original's rule), ``patience``, time
        budget, checkpoints and resume. Returns the best tables (the last epoch's when no dataset is given)
        and that epoch's record; the model is left holding them."""
        rng = np.random.default_rng(cfg.seed)
        if not docs:
            cfg = replace(cfg, lambda_v=0.0)
        protocol = protocol or Protocol(ks=(20, 40, 100), recall_denominator="min_k")
        opt_r = self.optimizer("collab", cfg.lr)
        opt_t = self.optimizer("content", cfg.content_lr)

        def epoch_body(e: int) -> dict[str, float]:
            rec = self.rec_epoch(opt_r, items, cfg, rng, e - 1)
            out = {"loss": rec["loss"], "reg": rec["reg"]}
            for _ in range(cfg.content_epochs if docs else 0):
                crec = self.content_epoch(opt_t, docs, cfg.batch_size, cfg.max_content_tokens,
                                          cfg.content_docs_per_epoch, cfg.lambda_v, rng, e - 1, "finetune")
                out.update(content_loss=crec["loss"], content_reg=crec["reg"])
            return out

        def validate(e: int) -> dict[str, float]:
            t0 = time.perf_counter()
            res = self.evaluate(dataset, "valid", items, cfg.max_items, protocol, cfg.eval_batch_size)
            metrics = {k: res.metrics[k] for k in SELECTION_METRICS}
            metrics[SELECTION_KEY] = sum(metrics.values())
            rec = next(r for r in reversed(self.history) if r.get("task") == "rec")  # this epoch's rec record
            rec.update({f"valid_{k}": v for k, v in metrics.items()}, valid_seconds=time.perf_counter() - t0)
            self.log({"stage": "finetune", "epoch": e - 1, **{f"valid_{k}": round(v, 4) for k, v in metrics.items()}})
            return metrics

        loop = FitConfig(epochs=cfg.epochs, eval_every=cfg.eval_every, patience=cfg.patience,
                         select_metric=SELECTION_KEY, time_limit_s=cfg.time_limit_s, progress=False, desc="finetune")
        out = self._fit(epoch_body, validate if dataset is not None else None, loop,
                        self._state({"opt_rec": opt_r, "opt_content": opt_t}, rng), checkpoint_dir,
                        self._identity("finetune", cfg), "finetune")
        self.status, self.fit_result = out.status, out
        epoch = out.best_epoch or out.epochs_run
        rec = next((r for r in self.history if r.get("task") == "rec" and r.get("epoch") == epoch - 1), {})
        score = out.best_metric if out.best_epoch else float(epoch)
        return self.model.trainable_state(), {**rec, "epoch": epoch, "score": score, "status": out.status}


class _Trainable:
    """The model's trainable part (user/item tables, the LM when unfrozen) as a checkpointable object."""

    def __init__(self, model: CLLM4Rec) -> None:
        self.model = model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.trainable_state()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_trainable_state(state)


class _Log:
    """The trainer's per-pass log as a checkpointable object (a resumed run keeps the earlier passes)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def state_dict(self) -> dict:
        return {"rows": copy.deepcopy(self.rows)}

    def load_state_dict(self, state: dict) -> None:
        self.rows[:] = copy.deepcopy(state["rows"])


def config_dict(cfg) -> dict:
    return asdict(cfg)


def _lm_tokens(batch: dict) -> int:
    """Tokens an LM batch processes: its prompts plus the predicted positions."""
    return int(batch["main_mask"].sum()) + batch["prompt_ids"].numel()
