"""A backbone composed with an alignment: the module the trainer optimises and the evaluator scores."""

from __future__ import annotations

import torch
from torch import nn

from .backbone import Alignment, Backbone, Batch
from .losses import l2_reg


class CFModel(nn.Module):
    """``backbone`` + ``alignment`` with RLMRec's objective: BPR (``backbone.rec_loss``) + backbone SSL terms + alignment terms +
    ``reg_weight * sum ||W||^2`` over all trainable parameters (backbone, MLPs, mask token)."""

    def __init__(self, backbone: Backbone, alignment: Alignment, reg_weight: float = 1e-6) -> None:
        super().__init__()
        self.backbone = backbone
        self.alignment = alignment
        self.reg_weight = float(reg_weight)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss of one batch and its detached parts (``bpr``, ``reg``, backbone and alignment terms)."""
        ego, state = self.alignment.prepare(self.backbone.ego())
        out = self.backbone.train_forward(batch, ego)
        parts = {self.backbone.rec_loss_name: self.backbone.rec_loss(out, batch)}
        parts.update(out.losses)
        parts.update(self.alignment.loss(out, batch, state))
        parts["reg"] = self.reg_weight * l2_reg(p for p in self.parameters() if p.requires_grad)
        total = torch.stack(list(parts.values())).sum()
        return total, {k: v.detach() for k, v in parts.items()}

    @torch.no_grad()
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean final user/item embeddings (what evaluation scores with)."""
        return self.backbone.encode()

    @torch.no_grad()
    def scorer(self):
        """``score_fn(users) -> [B, n_items]`` for :func:`lmrec.eval.evaluate_split` (embeddings computed once)."""
        users, items = self.embeddings()
        return lambda u: self.backbone.score(u, users, items)
