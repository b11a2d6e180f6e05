"""LLMRec's recommender (WSDM'24, arXiv 2311.00423, Sec. 3.2-3.3) as a backbone of the one CF trainer.

* IDs: LightGCN over the normalised user-item graph, mean of the layer outputs (as LLMRec's code);
* side features (Eq. 7): ``f = Linear(x)`` per feature; an item feature reaches users by one hop and
  items again by two hops of the graph; a user feature (the augmented profile) reaches items by one hop
  and users by two;
* fusion (Eq. 8): ``h = e + sum_k w_k * normalize(f_k)``, one weight per feature family (``text``: the
  item's own text, ``profile``: augmented user profiles, ``attribute``: augmented item attributes; the
  released code's ``model_cat_rate``, ``user_cat_rate``, ``item_cat_rate``);
* augmented BPR (Eq. 9): each batch of real triples gets the LLM triple (user, liked, disliked) of a
  random ``aug_sample_rate`` share of its users (hook :meth:`LLMRecBackbone.on_step_start`);
* noise pruning (Eq. 9): the per-triple BPR losses are sorted and only ``1 - drop_rate`` of them kept:
  the lowest-loss share (paper: high-loss pairs are the unreliable ones, ``prune_keep="low"``) or the
  highest-loss share (what the released code's ``prune_loss`` actually does, ``prune_keep="high"``);
  optionally with the share ramped up from 0 over ``prune_warmup_epochs`` (not in LLMRec: without it the
  paper's end stalls training on the first, popularity-driven plateau; see notebook 21);
* feature-space BPR (released code, not in the paper): ``aug_bpr_weight`` (``aug_mf_rate`` 0.012) x BPR of
  the user-profile feature against each item-attribute feature, ``mm_bpr_weight`` (``mm_mf_rate`` 1e-4)
  x BPR of each item-content feature's user side against its item side (:meth:`LLMRecBackbone.feature_bpr`);
* missing features: a node whose augmentation failed (all-zero input row) has no feature: its projected
  row is zero (not the projection's bias), it is never masked for reconstruction, never part of the
  ``mean`` mask token, and a user without a profile is left out of the profile BPR;
* masked feature reconstruction (Eq. 10-11): a ``mask_rate`` share of users/items get their augmented
  input feature replaced by a learnable ``[MASK]`` vector (released code: the mean feature,
  ``mask_token="mean"``); a decoder maps the propagated feature back to the input space, trained with the
  scaled cosine error ``(1 - cos)^gamma`` (the released code never steps its decoder's optimiser and
  detaches its input; here the decoder is part of the model and is trained).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..cf.backbone import Backbone, BackboneConfig, Batch, TrainOutput
from ..cf.graph import Graph

FAMILIES = ("text", "profile", "attribute")
PRUNE_KEEP = ("low", "high")
MASK_TOKENS = ("learned", "mean")
# named pruning rules (notebook 21's PRUNE): which end of the sorted per-triple BPR losses is kept
PRUNE_MODES: dict[str, dict[str, float | int | str]] = {
    "low_warmup": {"prune_keep": "low", "drop_rate": 0.1, "prune_warmup_epochs": 20},  # paper's end, T-CE ramp
    "released": {"prune_keep": "high", "drop_rate": 0.71, "prune_warmup_epochs": 0},   # HKUDS/LLMRec prune_loss
    "none": {"prune_keep": "low", "drop_rate": 0.0, "prune_warmup_epochs": 0},
}


def prune_settings(mode: str) -> dict[str, float | int | str]:
    """The :class:`LLMRecConfig` fields of a named pruning rule (see :data:`PRUNE_MODES`)."""
    if mode not in PRUNE_MODES:
        raise ValueError(f"PRUNE={mode!r}; choose one of {list(PRUNE_MODES)}")
    return dict(PRUNE_MODES[mode])


@dataclass
class LLMRecConfig:
    """LLMRec's own settings (defaults: the released code's values where the paper gives none). The weight of the
    reconstruction loss has no default: notebook 21 holds the main job's, ``0.0`` is the released code's."""

    recon_weight: float                # weight of the reconstruction loss (att_re_rate; 0 = w/o-recon)
    weights: dict[str, float] = field(default_factory=lambda: {"text": 0.02, "profile": 2.8, "attribute": 0.005})
    aug_sample_rate: float = 0.1       # share of a batch's users that add their LLM triple (0 = w/o-u-i)
    drop_rate: float = 0.71            # prune_loss_drop_rate; 0 disables pruning (w/o-prune)
    prune_keep: str = "low"            # low (paper) | high (released code)
    prune_warmup_epochs: int = 0       # drop rate grows linearly from 0 over these epochs (0 = full rate at once)
    mask_rate: float = 0.1             # share of users/items whose augmented features are masked
    mask_token: str = "learned"        # learned (paper) | mean (released code)
    sce_gamma: float = 2.0             # alpha_l: power of the scaled cosine error
    aug_bpr_weight: float = 0.012      # aug_mf_rate: BPR of user profile features vs item attribute features
    mm_bpr_weight: float = 1e-4        # mm_mf_rate: BPR of each item-content feature's user vs item side

    def __post_init__(self) -> None:
        if self.prune_keep not in PRUNE_KEEP:
            raise ValueError(f"prune_keep={self.prune_keep!r}; use 'low' (paper) or 'high' (released code)")
        if self.mask_token not in MASK_TOKENS:
            raise ValueError(f"mask_token={self.mask_token!r}; use one of {MASK_TOKENS}")
        if not 0 <= self.drop_rate < 1:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate}")
        if self.prune_warmup_epochs < 0:
            raise ValueError(f"prune_warmup_epochs must be >= 0, got {self.prune_warmup_epochs}")
        if self.aug_bpr_weight < 0 or self.mm_bpr_weight < 0:
            raise ValueError(f"aug_bpr_weight/mm_bpr_weight must be >= 0, got {self.aug_bpr_weight}, {self.mm_bpr_weight}")
        if not 0 <= self.aug_sample_rate <= 1:
            raise ValueError(f"aug_sample_rate must be in [0, 1], got {self.aug_sample_rate}")
        unknown = set(self.weights) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown feature families {sorted(unknown)} in weights; use {FAMILIES}")


def pruned_bpr(pos: torch.Tensor, neg: torch.Tensor, drop_rate: float, keep: str = "low",
               rows: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BPR loss ``-log sigmoid(pos - neg)`` over the kept ``1 - drop_rate`` share of triples
    (``keep="low"``: lowest losses, paper Eq. 9; ``"high"``: highest, released code). Keeps >= 1 triple.
    ``rows`` (bool mask) restricts the loss to those triples first (e.g. users that have a profile)."""
    if rows is not None:
        pos, neg = pos[rows], neg[rows]
    losses = F.softplus(neg - pos)
    if drop_rate <= 0:
        return losses.mean()
    n_keep = max(1, int((1 - drop_rate) * losses.numel()))
    return torch.topk(losses, n_keep, largest=(keep == "high")).values.mean()


def scaled_cosine_error(x_hat: torch.Tensor, x: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """``mean((1 - cos(x_hat, x))^gamma)`` (GraphMAE's SCE; LLMRec Eq. 11)."""
    cos = (F.normalize(x_hat, dim=-1) * F.normalize(x, dim=-1)).sum(-1)
    return (1 - cos).pow(gamma).mean()


class LLMRecBackbone(Backbone):
    """LightGCN ID embeddings fused with projected, propagated side features (plain LightGCN-mean when
    given no features and no augmented pairs).

    ``user_feats``: ``{name: [n_users, d]}`` (family ``profile``); ``item_feats``: ``{name: [n_items, d]}``
    with ``item_families`` mapping each name to ``text`` or ``attribute`` (default ``attribute``);
    ``aug_pairs``: per-user (liked, disliked) item arrays, ``-1`` where a user has no valid pair.
    """

    name = "llmrec"

    def __init__(self, graph: Graph, config: BackboneConfig, llmrec: LLMRecConfig | None = None,
                 user_feats: dict[str, np.ndarray | torch.Tensor] | None = None,
                 item_feats: dict[str, np.ndarray | torch.Tensor] | None = None,
                 item_families: dict[str, str] | None = None,
                 aug_pairs: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        super().__init__(graph, config)
        self.cfg = llmrec or LLMRecConfig(recon_weight=0.0)  # no features to reconstruct
        dev = graph.device
        self.item_families = dict(item_families or {})
        self.proj = nn.ModuleDict()
        self.mask_tokens = nn.ParameterDict()
        self._raw: dict[str, str] = {}
        for side, feats, n in (("u", user_feats or {}, self.n_users), ("i", item_feats or {}, self.n_items)):
            for name, x in sorted(feats.items()):
                x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32)
                if x.ndim != 2 or x.shape[0] != n:
                    raise ValueError(f"{'user' if side == 'u' else 'item'} feature {name!r} has shape "
                                     f"{tuple(x.shape)}; expected ({n}, d) for this dataset's graph")
                if side == "i":
                    fam = self.item_families.setdefault(name, "attribute")
                    if fam not in ("text", "attribute"):
                        raise ValueError(f"item feature {name!r}: family must be 'text' or 'attribute', got {fam!r}")
                key = f"{side}_{name}"
                self.register_buffer(f"x_{key}", x.to(dev))
                # an all-zero row means the node has no such feature (augmentation failed or not asked)
                self.register_buffer(f"p_{key}", (x.abs().sum(1) > 0).to(dev))
                self.proj[key] = nn.Linear(x.shape[1], self.dim)
                nn.init.xavier_uniform_(self.proj[key].weight)
                nn.init.zeros_(self.proj[key].bias)
                self.mask_tokens[key] = nn.Parameter(torch.zeros(x.shape[1]))
        # decoders back to the input space of the augmented features (profiles and attributes)
        self.decoders = nn.ModuleDict({
            key: nn.Sequential(nn.Linear(self.dim, self.raw(key).shape[1]), nn.LeakyReLU())
            for key in self.proj if self.family(key) in ("profile", "attribute")
        })
        if aug_pairs is not None:
            pos, neg = (torch.as_tensor(np.asarray(a), dtype=torch.long) for a in aug_pairs)
            if pos.shape != (self.n_users,) or neg.shape != (self.n_users,):
                raise ValueError(f"aug_pairs must be two arrays of length n_users={self.n_users}")
            bad = (pos >= self.n_items) | (neg >= self.n_items) | ((pos >= 0) != (neg >= 0))
            if bool(bad.any()):
                raise ValueError(f"aug_pairs: {int(bad.sum())} users have item ids outside [0, {self.n_items}) "
                                 "or only one of the two items")
            self.register_buffer("aug_pos", pos.to(dev))
            self.register_buffer("aug_neg", neg.to(dev))
        else:
            self.aug_pos = self.aug_neg = None
        self._mask: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------------- helpers
    def raw(self, key: str) -> torch.Tensor:
        return getattr(self, f"x_{key}")

    def present(self, key: str) -> torch.Tensor:
        """Bool ``[n]``: which nodes have feature ``key`` (a failed or unasked augmentation has none)."""
        return getattr(self, f"p_{key}")

    def coverage(self) -> dict[str, tuple[int, int]]:
        """``key -> (nodes with the feature, all nodes)``, e.g. ``{"u_profile": (78, 942)}``."""
        return {key: (int(self.present(key).sum()), int(self.present(key).numel())) for key in self.proj}

    def family(self, key: str) -> str:
        side, name = key.split("_", 1)
        return "profile" if side == "u" else self.item_families[name]

    def _input(self, key: str, nodes: torch.Tensor | None) -> torch.Tensor:
        x = self.raw(key)
        if nodes is None or nodes.numel() == 0:
            return x
        token = x[self.present(key)].mean(0) if self.cfg.mask_token == "mean" else self.mask_tokens[key]
        keep = torch.ones(x.shape[0], 1, device=x.device)
        keep[nodes] = 0.0
        return x * keep + (1 - keep) * token  # differentiable in the learned token

    def _features(self, mask: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Projected, propagated features: ``key -> (user side [n_users, dim], item side [n_items, dim])``."""
        adj = self.graph.adj()
        out = {}
        for key, proj in self.proj.items():
            # nodes without the feature contribute nothing (not the projection's bias, as if it were a feature)
            f = proj(self._input(key, mask.get(key)))
            f = f * self.present(key).unsqueeze(1).to(f.dtype)
            zeros = torch.zeros(self.n_users if key.startswith("i_") else self.n_items, self.dim, device=f.device)
            x = torch.cat([zeros, f]) if key.startswith("i_") else torch.cat([f, zeros])
            one = adj @ x           # item feature -> users (user feature -> items)
            two = adj @ one         # -> items again (-> users again)
            fu1, fi1 = self.graph.split(one)
            fu2, fi2 = self.graph.split(two)
            out[key] = (fu1, fi2) if key.startswith("i_") else (fu2, fi1)
        return out

    def _fuse(self, ego: torch.Tensor, mask: dict[str, torch.Tensor]):
        users, items = self.graph.split(torch.stack(self.propagate_layers(self.graph.adj(), ego)).mean(0))
        feats = self._features(mask)
        for key, (fu, fi) in feats.items():
            w = self.cfg.weights.get(self.family(key), 0.0)
            if w:
                users = users + w * F.normalize(fu, dim=1)
                items = items + w * F.normalize(fi, dim=1)
        return users, items, feats

    # ------------------------------------------------------------ backbone API
    def encode(self, ego: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self._fuse(self.ego() if ego is None else ego, {})
        return users, items

    def sample_mask(self) -> dict[str, torch.Tensor]:
        """Node ids per augmented feature whose input gets the mask token: a ``mask_rate`` share of the nodes
        that have the feature (an all-zero row means the augmentation failed or was not run for that node)."""
        if self.cfg.mask_rate <= 0 or self.cfg.recon_weight <= 0:
            return {}
        out = {}
        for key in self.decoders:
            present = torch.nonzero(self.present(key)).squeeze(1)  # failed augmentations are never masked
            if present.numel() == 0:
                continue
            k = max(1, int(self.cfg.mask_rate * present.numel()))
            out[key] = present[torch.randperm(present.numel(), device=present.device)[:k]]
        return out

    def drop_rate_at(self, epoch: int) -> float:
        """The pruning share in 0-based ``epoch``: ``drop_rate``, ramped up linearly over the first
        ``prune_warmup_epochs`` epochs (0 in the first epoch), as T-CE's schedule (Wang et al., WSDM'21)."""
        warm = self.cfg.prune_warmup_epochs
        return self.cfg.drop_rate * (min(1.0, epoch / warm) if warm > 0 else 1.0)

    def on_step_start(self, batch: Batch) -> None:
        """Append the LLM triples of a random ``aug_sample_rate`` share of the batch's users."""
        if self.aug_pos is None or self.cfg.aug_sample_rate <= 0:
            return
        n = int(len(batch) * self.cfg.aug_sample_rate)
        if n <= 0:
            return
        pick = batch.users[torch.randperm(len(batch), device=batch.users.device)[:n]]
        pick = pick[self.aug_pos[pick] >= 0]
        batch.users = torch.cat([batch.users, pick])
        batch.pos = torch.cat([batch.pos, self.aug_pos[pick]])
        batch.neg = torch.cat([batch.neg, self.aug_neg[pick]])

    def train_forward(self, batch: Batch, ego: torch.Tensor) -> TrainOutput:
        mask = self.sample_mask()
        users, items, feats = self._fuse(ego, mask)
        losses: dict[str, torch.Tensor] = {}
        if mask:
            losses["recon"] = self.cfg.recon_weight * self.reconstruction_loss(feats, mask)
        losses.update(self.feature_bpr(feats, batch))
        return TrainOutput(users, items, losses)

    def feature_bpr(self, feats: dict[str, tuple[torch.Tensor, torch.Tensor]], batch: Batch) -> dict[str, torch.Tensor]:
        """The released code's BPR terms inside the side-feature spaces, pruned like the main BPR:

        * ``aug_bpr`` (``aug_mf_rate``): for each item attribute ``a``, BPR of the user's PROFILE feature
          (user side) against the pos/neg items' ATTRIBUTE ``a`` feature (item side), summed over ``a``;
          users without a profile of their own are left out;
        * ``mm_bpr`` (``mm_mf_rate``): for each item-content feature (``text``), BPR of its user side (one
          hop) against its item side (two hops), summed over the features."""
        out: dict[str, torch.Tensor] = {}
        drop, keep = self.drop_rate_at(batch.epoch), self.cfg.prune_keep
        u, p, n = batch.users, batch.pos, batch.neg

        def bpr(fu: torch.Tensor, fi: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
            return pruned_bpr((fu * fi[p]).sum(1), (fu * fi[n]).sum(1), drop, keep, rows)

        by_family = {fam: [k for k in feats if self.family(k) == fam] for fam in FAMILIES}
        if self.cfg.aug_bpr_weight > 0:
            terms = []
            for pk in by_family["profile"]:
                rows = self.present(pk)[u]
                if bool(rows.any()):
                    terms += [bpr(feats[pk][0][u], feats[ak][1], rows) for ak in by_family["attribute"]]
            if terms:
                out["aug_bpr"] = self.cfg.aug_bpr_weight * torch.stack(terms).sum()
        if self.cfg.mm_bpr_weight > 0 and by_family["text"]:
            out["mm_bpr"] = self.cfg.mm_bpr_weight * torch.stack([bpr(feats[k][0][u], feats[k][1])
                                                                  for k in by_family["text"]]).sum()
        return out

    def rec_loss(self, out: TrainOutput, batch: Batch) -> torch.Tensor:
        """Pruned BPR over the batch's real and augmented triples."""
        u = out.users[batch.users]
        return pruned_bpr((u * out.items[batch.pos]).sum(1), (u * out.items[batch.neg]).sum(1),
                          self.drop_rate_at(batch.epoch), self.cfg.prune_keep)

    def reconstruction_loss(self, feats: dict[str, tuple[torch.Tensor, torch.Tensor]],
                            mask: dict[str, torch.Tensor]) -> torch.Tensor:
        """SCE between the decoded propagated feature of each masked node and its original input."""
        terms = []
        for key, nodes in mask.items():
            fu, fi = feats[key]
            hidden = (fu if key.startswith("u_") else fi)[nodes]
            terms.append(scaled_cosine_error(self.decoders[key](hidden), self.raw(key)[nodes], self.cfg.sce_gamma))
        return torch.stack(terms).mean()
