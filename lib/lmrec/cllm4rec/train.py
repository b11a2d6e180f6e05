"""CLLM4Rec training: mutually-regularised pretraining, recommendation finetuning, scoring.

Single process or several (``accelerate launch``): every loop goes through one
:class:`accelerate.Accelerator`; users/documents are split evenly over processes each epoch and the
model is called through :class:`~lmrec.cllm4rec.model.TaskModel` so gradients are synchronised.
Pretraining follows the paper's alternation: optional content warm-up epochs, then per round one epoch of
the collaborative LM (regularised towards the content embeddings) and one of the content LM (regularised
towards the collaborative embeddings). Finetuning alternates recommendation epochs with content epochs
and keeps the tables with the best validation Recall@20 + Recall@40 + NDCG@100 (the original's rule).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from ..eval import Protocol, evaluate_split
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


@dataclass
class PretrainConfig:
    """Pretraining (original: lr 1e-3, batch 20, 10 content warm-up epochs, 100 rounds, lambda_V 1)."""

    rounds: int = 1                 # alternating (collaborative epoch, content epoch) rounds
    content_warmup_epochs: int = 0  # content-only epochs before the rounds
    lr: float = 1e-3
    batch_size: int = 20
    max_items: int = 16             # items per collaborative document (a fresh random subset/order per epoch)
    max_content_tokens: int = 32    # main-text tokens per content document
    content_docs_per_epoch: int = 0  # 0: all documents; else a random subset per epoch (CPU budget)
    lambda_v: float = 1.0
    predict_first: bool = True      # paper: the prompt predicts the first item too (original code: False)
    users_per_epoch: int = 0        # 0: every user; else a random subset per epoch (CPU budget on big data)
    seed: int = 2023


@dataclass
class FinetuneConfig:
    """Finetuning (original: lr 1e-4, batch 20, 150 epochs, 20% of items masked, targets = all items)."""

    epochs: int = 1
    lr: float = 1e-4
    content_lr: float = 1e-4
    batch_size: int = 20
    max_items: int = 16             # items listed in a prompt (training and evaluation)
    mask_ratio: float = 0.2
    targets: str = "masked"         # masked (paper: the held-out items) | all (original code)
    lambda_v: float = 1.0
    content_epochs: int = 1         # content epochs after each recommendation epoch (0: none)
    max_content_tokens: int = 32
    content_docs_per_epoch: int = 0
    eval_batch_size: int = 64
    users_per_epoch: int = 0        # 0: every user; else a random subset per epoch
    seed: int = 2023


def make_accelerator(device: torch.device | str = "cpu"):
    """An Accelerator on ``device`` (under ``accelerate launch`` it takes the launcher's processes)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    dev = torch.device(device)
    return Accelerator(cpu=dev.type == "cpu", kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


class CLLM4RecTrainer:
    """Runs the CLLM4Rec epochs on one model; ``log`` receives one dict per epoch."""

    def __init__(self, model: CLLM4Rec, tok: UserItemTokenizer, accelerator=None,
                 log: Callable[[dict], None] | None = None) -> None:
        self.model = model
        self.tok = tok
        self.acc = accelerator or make_accelerator("cpu")
        self.task = self.acc.prepare(TaskModel(model))
        self.log = log or (lambda rec: None)
        self.history: list[dict] = []

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
    def pretrain(self, items: Sequence[np.ndarray], docs: Sequence[tuple[str, str]], cfg: PretrainConfig) -> list[dict]:
        """Content warm-up, then ``rounds`` of (collaborative epoch, content epoch)."""
        rng = np.random.default_rng(cfg.seed)
        if not docs:  # no content corpus: nothing to regularise towards (collaborative part only)
            cfg = replace(cfg, lambda_v=0.0)
        opt_c = self.optimizer("collab", cfg.lr)
        opt_t = self.optimizer("content", cfg.lr)
        for e in range(cfg.content_warmup_epochs):
            self.content_epoch(opt_t, docs, cfg.batch_size, cfg.max_content_tokens, cfg.content_docs_per_epoch,
                               0.0, rng, e, "warmup", cfg.predict_first)
        for r in range(cfg.rounds):
            self.collab_epoch(opt_c, items, cfg, rng, r)
            if docs:
                self.content_epoch(opt_t, docs, cfg.batch_size, cfg.max_content_tokens, cfg.content_docs_per_epoch,
                                   cfg.lambda_v, rng, r, "pretrain", cfg.predict_first)
        return self.history

    def finetune(self, items: Sequence[np.ndarray], docs: Sequence[tuple[str, str]], cfg: FinetuneConfig,
                 dataset=None, protocol: Protocol | None = None) -> tuple[dict[str, torch.Tensor], dict]:
        """Recommendation epochs (+ content epochs); returns the best tables by validation
        Recall@20 + Recall@40 + NDCG@100 (the last epoch when no dataset is given) and their metrics."""
        rng = np.random.default_rng(cfg.seed)
        if not docs:
            cfg = replace(cfg, lambda_v=0.0)
        opt_r = self.optimizer("collab", cfg.lr)
        opt_t = self.optimizer("content", cfg.content_lr)
        best_state, best = self.model.trainable_state(), {"epoch": -1, "score": -np.inf}
        for e in range(cfg.epochs):
            rec = self.rec_epoch(opt_r, items, cfg, rng, e)
            for _ in range(cfg.content_epochs if docs else 0):
                self.content_epoch(opt_t, docs, cfg.batch_size, cfg.max_content_tokens, cfg.content_docs_per_epoch,
                                   cfg.lambda_v, rng, e, "finetune")
            if dataset is not None:
                t0 = time.perf_counter()
                res = self.evaluate(dataset, "valid", items, cfg.max_items, protocol or Protocol(ks=(20, 40, 100), recall_denominator="min_k"),
                                    cfg.eval_batch_size)
                score = sum(res.metrics[k] for k in SELECTION_METRICS)
                rec.update({f"valid_{k}": v for k, v in res.metrics.items() if k in SELECTION_METRICS})
                rec.update({"valid_sum": score, "valid_seconds": time.perf_counter() - t0})
                self.log({"stage": "finetune", "epoch": e, **{f"valid_{k}": round(v, 4) for k, v in res.metrics.items()
                                                               if k in SELECTION_METRICS}})
            else:
                score = float(e)
            if score > best["score"]:
                best_state, best = self.model.trainable_state(), {"epoch": e, "score": score, **rec}
        return best_state, best


def config_dict(cfg) -> dict:
    return asdict(cfg)


def _lm_tokens(batch: dict) -> int:
    """Tokens an LM batch processes: its prompts plus the predicted positions."""
    return int(batch["main_mask"].sum()) + batch["prompt_ids"].numel()
