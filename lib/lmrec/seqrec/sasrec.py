"""SASRec (Kang & McAuley, ICDM'18, arXiv 1808.09781): the ID-only sequential baseline of the sequential table.

Item ids are shifted by one (token 0 pads). A left-padded history of ``max_len`` tokens becomes

    x = E[tokens] * sqrt(d) + P[positions]                       (dropout, padding rows zeroed)
    x = LN(x) + MHA(q=LN(x), k=x, v=x)                          (causal, padding keys masked)
    x = LN(x) + FFN(LN(x))                                      (ReLU, dropout; padding rows zeroed)
    h = LN(x)                                                   (after the last block)

as in the paper's code (queries and residuals are layer-normalised, keys and values are not). The state at
each position predicts the next item by a dot product with the shared item embeddings; a user's vector is
the state at the last position, which is the most recent item under left padding.

Training (paper, Sec. III-E): each user's last ``max_len + 1`` training items give the inputs ``s[:-1]`` and
the targets ``s[1:]`` at every position. ``loss="bce"`` is the paper's objective (one negative per position,
drawn uniformly from the items the user never trained on); ``loss="ce"`` is a softmax over the whole
catalogue, which reaches better accuracy in fewer epochs (Klenitskiy & Vasilev, RecSys'23, "Turning Dross
Into Gold Loss: is BERT4Rec really better than SASRec?"). Early stopping on validation NDCG@10.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import InteractionDataset
from ..eval import EvalResult
from ..train import FitConfig, TrainingState, fit
from ..train.sampling import NegativeSampler
from .data import LeaveOneOut, iterate_batches, pad_sequences
from .evaluate import SEQ_PROTOCOL, VALID_KEYS, evaluate_encoder

LOSSES = ("ce", "bce")


@dataclass
class SASRecConfig:
    """Model and training settings (paper, ML-1M: d 50, 2 blocks, 1 head, dropout 0.2, max_len 200, Adam
    1e-3 with betas (0.9, 0.98), batch 128)."""

    hidden_dim: int = 64
    n_blocks: int = 2
    n_heads: int = 1
    dropout: float = 0.2
    max_len: int = 50
    loss: str = "ce"
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    eval_every: int = 5
    patience: int = 5              # evaluations without improvement before stopping (0: never stop)
    select_metric: str = "ndcg@10"
    mask_history: bool = True      # False: validation ranks history items too (Recformer's and RecBole's evaluators)
    time_limit_s: float | None = None  # training-time budget; the run ends ``capped`` and a re-run resumes
    seed: int = 2023

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"SASRecConfig.loss={self.loss!r}; choose one of {LOSSES}")
        if self.hidden_dim % self.n_heads:
            raise ValueError(f"hidden_dim={self.hidden_dim} must be a multiple of n_heads={self.n_heads}")
        for name in ("max_len", "epochs", "batch_size", "eval_every", "n_blocks"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"SASRecConfig.{name} must be >= 1, got {getattr(self, name)}")


class _Block(nn.Module):
    """One self-attention block of the paper's code (layer-normalised queries, raw keys and values)."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.attn = nn.MultiheadAttention(dim, n_heads, dropout=dropout, batch_first=True)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        q = self.attn_norm(x)
        x = q + self.attn(q, x, x, attn_mask=attn_mask, need_weights=False)[0]
        x = self.ffn_norm(x)
        x = x + self.ffn(x)
        return x * real[..., None]


class SASRec(nn.Module):
    """Item and position embeddings, causal self-attention blocks, shared item embeddings for scoring."""

    def __init__(self, n_items: int, config: SASRecConfig):
        super().__init__()
        self.config, self.n_items = config, n_items
        self.item_emb = nn.Embedding(n_items + 1, config.hidden_dim, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len, config.hidden_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config.hidden_dim, config.n_heads, config.dropout)
                                    for _ in range(config.n_blocks))
        self.last_norm = nn.LayerNorm(config.hidden_dim, eps=1e-8)
        for name, p in self.named_parameters():  # the paper's code: Xavier normal where it applies
            if p.dim() > 1 and "norm" not in name:
                nn.init.xavier_normal_(p)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def _attn_mask(self, real: torch.Tensor) -> torch.Tensor:
        """``[B * heads, L, L]`` True where a query may not look: later positions and padding keys.
        Every position may look at itself, so an all-padding row gives finite (ignored) states."""
        length = real.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=real.device).tril()
        allowed = causal[None] & real[:, None, :]
        allowed |= torch.eye(length, dtype=torch.bool, device=real.device)[None]
        return (~allowed).repeat_interleave(self.config.n_heads, dim=0)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[B, L, d]`` of left-padded item tokens ``[B, L]`` (item id + 1, 0 pads)."""
        real = tokens > 0
        length = tokens.shape[1]
        if length > self.config.max_len:
            raise ValueError(f"sequences of {length} tokens exceed max_len={self.config.max_len}")
        positions = torch.arange(length, device=tokens.device)
        x = self.item_emb(tokens) * math.sqrt(self.config.hidden_dim) + self.pos_emb(positions)[None]
        x = self.dropout(x) * real[..., None]
        mask = self._attn_mask(real)
        for block in self.blocks:
            x = block(x, mask, real)
        return self.last_norm(x)

    def item_table(self) -> torch.Tensor:
        """Scoring vectors of the items ``[n_items, d]`` (item id i is row i)."""
        return self.item_emb.weight[1:]

    def user_vectors(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """User vectors from left-padded item ids ``[B, L]`` and their mask: the state at the last position."""
        return self.forward((ids + 1) * mask)[:, -1]


def training_windows(sequences: list[np.ndarray], max_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each user's last ``max_len + 1`` training items as left-padded inputs and next-item targets.

    Returns ``(users [N], inputs [N, max_len], targets [N, max_len])`` with item ids, -1 where padded; users
    with fewer than two training items give no window."""
    keep = [u for u, s in enumerate(sequences) if len(s) >= 2]
    inputs, in_mask = pad_sequences([sequences[u][:-1] for u in keep], max_len, side="left")
    targets, t_mask = pad_sequences([sequences[u][1:] for u in keep], max_len, side="left")
    return (torch.as_tensor(keep, dtype=torch.long), inputs.masked_fill(~in_mask, -1),
            targets.masked_fill(~t_mask, -1))


def sasrec_loss(model: SASRec, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Mean next-item loss over the real positions: softmax over all items (``negatives`` None) or the
    paper's binary cross-entropy of the target against one negative per position (``negatives`` [B, L])."""
    h = model((inputs + 1).clamp(min=0))
    real = targets >= 0
    h, pos = h[real], targets[real]
    table = model.item_table()
    if negatives is None:
        return F.cross_entropy(h @ table.T, pos)
    pos_logit = (h * table[pos]).sum(-1)
    neg_logit = (h * table[negatives[real]]).sum(-1)
    return -(F.logsigmoid(pos_logit) + F.logsigmoid(-neg_logit)).mean()


@dataclass
class SASRecResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("-inf")
    seconds: float = 0.0
    steps: int = 0
    epochs_run: int = 0
    status: str = "completed"  # converged | completed | capped (see lmrec.train)
    config: dict = field(default_factory=dict)


@torch.no_grad()
def evaluate_sasrec(model: SASRec, dataset: InteractionDataset, split: str, loo: LeaveOneOut | None = None,
                    batch_size: int = 256, mask_history: bool = True) -> EvalResult:
    """Full-ranking metrics on ``split`` (history = train for valid, train + valid for test; masked unless
    ``mask_history`` is False)."""
    was_training = model.training
    model.eval()
    device = model.item_emb.weight.device
    result = evaluate_encoder(model.user_vectors, model.item_table(), dataset, split, model.config.max_len,
                              SEQ_PROTOCOL, device, batch_size, side="left", loo=loo, mask_history=mask_history)
    model.train(was_training)
    return result


def train_sasrec(model: SASRec, dataset: InteractionDataset, config: SASRecConfig,
                 device: torch.device | str = "cpu", loo: LeaveOneOut | None = None,
                 on_eval: Callable[[dict], None] | None = None, progress: bool = False,
                 checkpoint_dir: str | Path | None = None) -> SASRecResult:
    """Train with Adam (betas 0.9, 0.98 as the paper) through the engine (:func:`lmrec.train.fit`): validation
    every ``eval_every`` epochs, a stop after ``patience`` evaluations without improvement, the time budget,
    checkpoints in ``checkpoint_dir`` and resume; the model is left in its best state."""
    device = torch.device(device)
    loo = loo or LeaveOneOut.from_dataset(dataset)
    model.to(device)
    users, inputs, targets = (t.to(device) for t in training_windows(loo.train, config.max_len))
    if len(users) == 0:
        raise ValueError(f"dataset {dataset.name}: no user has two training items; nothing to train on")
    sampler = None
    if config.loss == "bce":
        train = dataset.train.tocoo()
        sampler = NegativeSampler(torch.as_tensor(train.row, device=device), torch.as_tensor(train.col, device=device),
                                  dataset.n_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(config.seed)
    result = SASRecResult(config=asdict(config))

    def train_epoch(epoch: int) -> dict[str, float]:
        model.train()
        losses = []
        for batch in iterate_batches(len(users), config.batch_size, shuffle=True, generator=gen):
            batch = batch.to(device)
            negatives = None
            if sampler is not None:
                b_users = users[batch][:, None].expand(-1, config.max_len)
                negatives = sampler.sample(b_users.reshape(-1)).view(-1, config.max_len)
            loss = sasrec_loss(model, inputs[batch], targets[batch], negatives)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        return {"loss": float(torch.stack(losses).mean())}

    def validate(epoch: int) -> dict[str, float]:
        metrics = evaluate_sasrec(model, dataset, "valid", loo, mask_history=config.mask_history).metrics
        return {k: metrics[k] for k in (*VALID_KEYS, config.select_metric) if k in metrics}

    loop = FitConfig(epochs=config.epochs, eval_every=config.eval_every, patience=config.patience,
                     select_metric=config.select_metric, time_limit_s=config.time_limit_s, progress=progress,
                     desc="SASRec")
    identity = {"method": "sasrec", "n_users": dataset.n_users, "n_items": dataset.n_items,
                "n_windows": len(users), "config": asdict(config)}
    out = fit(train_epoch, validate, loop, TrainingState({"model": model, "optimizer": optimizer}, {"order": gen}),
              checkpoint_dir, identity, on_record=on_eval)
    result.history, result.best_epoch, result.best_metric = out.history, out.best_epoch, out.best_metric
    result.seconds, result.status, result.epochs_run = out.train_seconds, out.status, out.epochs_run
    result.steps = out.epochs_run * math.ceil(len(users) / config.batch_size)
    return result
