"""Alignment of CF embeddings with fixed target embeddings, one per user and item: the two of RLMRec (Ren et al.,
WWW'24, arXiv 2310.15950). Generic: any backbone, any targets (:class:`AlignmentTargets`, built by the caller;
RLMRec's LLM profile embeddings come from :func:`lmrec.rlmrec.embeddings.profile_targets`). Below, "profile"
is the target embedding of a node.

* :class:`ContrastiveAlignment` (RLMRec-Con, paper eq. 8-9): an MLP ``sigma`` maps each profile embedding
  ``s`` into the CF space; InfoNCE (cosine / ``kd_temperature``) pulls a node's CF embedding towards its
  mapped profile. As in RLMRec's code, the batch's users are contrasted against the mapped profiles of
  *all* users, its positive and negative items against the batch's positive / negative items; the sum
  of the three terms is weighted by ``kd_weight``. ``negatives=False`` leaves the negative-item term out
  (RLMRec's ``autocf_plus.py``, whose AutoCF samples no negatives).
* :class:`GenerativeAlignment` (RLMRec-Gen, paper eq. 10): a ratio ``mask_ratio`` of all nodes get their
  layer-0 embedding replaced by a learnable mask token; the backbone propagates the masked graph (for
  every view, BPR included, as in RLMRec's code); an MLP maps the final embeddings of the masked nodes
  into the profile space and InfoNCE (cosine / ``re_temperature``, the other masked nodes as negatives)
  reconstructs their profile embeddings; weighted by ``recon_weight``.

Both MLPs are ``Linear(in, (in+out)//2) -> LeakyReLU -> Linear(.., out)`` with Xavier-uniform weights, as in
RLMRec. Profile embeddings are fixed buffers (never trained).

Failed profiles: ``user_mask`` / ``item_mask`` (bool, ``True`` = the node has a generated profile; default
all) take the nodes whose profile failed out of both losses: they are neither anchors nor positives nor
negatives of any InfoNCE term (their row holds a stand-in text, not a profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .backbone import Alignment, Batch, TrainOutput
from .losses import info_nce, info_nce_nodes

ALIGNMENTS = ("none", "con", "gen")


@dataclass(frozen=True)
class AlignmentTargets:
    """What an alignment pulls the CF embeddings towards: ``user`` ``[n_users, d]`` and ``item`` ``[n_items, d]``
    fixed embeddings, the nodes whose target is real (``user_mask``/``item_mask``, bool; the others stay out of
    the alignment losses; ``None``: all) and a ``caption`` saying where they come from (the run's caption shows it)."""

    user: torch.Tensor
    item: torch.Tensor
    user_mask: torch.Tensor | None = None
    item_mask: torch.Tensor | None = None
    caption: str = ""


def _mlp(d_in: int, d_out: int) -> nn.Sequential:
    hidden = (d_in + d_out) // 2
    mlp = nn.Sequential(nn.Linear(d_in, hidden), nn.LeakyReLU(), nn.Linear(hidden, d_out))
    for m in mlp:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
    return mlp


def _mask(mask: torch.Tensor | None, n: int, what: str) -> torch.Tensor:
    """A bool ``[n]`` profile mask (all ``True`` when none is given)."""
    if mask is None:
        return torch.ones(n, dtype=torch.bool)
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if mask.shape != (n,):
        raise ValueError(f"{what} profile mask has shape {tuple(mask.shape)}; expected ({n},), one flag per {what}")
    return mask


def _check_profiles(user_prof: torch.Tensor, item_prof: torch.Tensor, n_users: int, n_items: int) -> None:
    if user_prof.ndim != 2 or item_prof.ndim != 2 or user_prof.shape[1] != item_prof.shape[1]:
        raise ValueError(f"profile embeddings must be 2-D with equal widths, got users {tuple(user_prof.shape)}, "
                         f"items {tuple(item_prof.shape)}")
    if user_prof.shape[0] != n_users or item_prof.shape[0] != n_items:
        raise ValueError(f"profile embeddings cover {user_prof.shape[0]} users / {item_prof.shape[0]} items but the "
                         f"dataset has {n_users} / {n_items}; embed the profiles of this dataset (notebook 02) or "
                         f"point PROFILE_SOURCE at the matching RLMRec folder")


class NoAlignment(Alignment):
    """Plain backbone: no profile information."""

    name = "none"


class ContrastiveAlignment(Alignment):
    """RLMRec-Con: InfoNCE between CF embeddings and MLP-mapped profile embeddings."""

    name = "con"

    def __init__(self, user_prof: torch.Tensor, item_prof: torch.Tensor, cf_dim: int, kd_weight: float,
                 kd_temperature: float, user_mask: torch.Tensor | None = None,
                 item_mask: torch.Tensor | None = None, negatives: bool = True) -> None:
        super().__init__()
        _check_profiles(user_prof, item_prof, user_prof.shape[0], item_prof.shape[0])
        self.register_buffer("user_prof", user_prof.float(), persistent=False)
        self.register_buffer("item_prof", item_prof.float(), persistent=False)
        self.register_buffer("user_ok", _mask(user_mask, user_prof.shape[0], "user"), persistent=False)
        self.register_buffer("item_ok", _mask(item_mask, item_prof.shape[0], "item"), persistent=False)
        self.mlp = _mlp(user_prof.shape[1], cf_dim)
        self.kd_weight, self.kd_temperature = float(kd_weight), float(kd_temperature)
        self.negatives = bool(negatives)

    def coverage(self) -> tuple[int, int, int, int]:
        """(users with a profile, users, items with a profile, items)."""
        return (int(self.user_ok.sum()), self.user_ok.numel(), int(self.item_ok.sum()), self.item_ok.numel())

    def loss(self, out: TrainOutput, batch: Batch, state: Any) -> dict[str, torch.Tensor]:
        t = self.kd_temperature
        terms = []  # nodes whose profile failed are neither anchors nor candidates
        users = batch.users[self.user_ok[batch.users]]
        if users.numel():  # each distinct user once, weighted by its count, against all users with a profile
            rank = torch.cumsum(self.user_ok.long(), 0) - 1  # user id -> row among the users with a profile
            terms.append(info_nce_nodes(out.users[self.user_ok], self.mlp(self.user_prof[self.user_ok]), rank[users], t))
        # the batch's positive (and, unless switched off, negative) items against each other
        for items in ((batch.pos, batch.neg) if self.negatives else (batch.pos,)):
            items = items[self.item_ok[items]]
            if items.numel():
                terms.append(info_nce(out.items[items], self.mlp(self.item_prof[items]), temperature=t))
        kd = torch.stack(terms).sum() if terms else out.users.sum() * 0.0
        return {"kd": self.kd_weight * kd}


class GenerativeAlignment(Alignment):
    """RLMRec-Gen: masked-node reconstruction of profile embeddings."""

    name = "gen"

    def __init__(self, user_prof: torch.Tensor, item_prof: torch.Tensor, ego_dim: int, cf_dim: int,
                 mask_ratio: float, recon_weight: float, re_temperature: float,
                 user_mask: torch.Tensor | None = None, item_mask: torch.Tensor | None = None) -> None:
        super().__init__()
        _check_profiles(user_prof, item_prof, user_prof.shape[0], item_prof.shape[0])
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {mask_ratio}")
        self.register_buffer("prof", torch.cat([user_prof, item_prof]).float(), persistent=False)
        self.register_buffer("prof_ok", torch.cat([_mask(user_mask, user_prof.shape[0], "user"),
                                                   _mask(item_mask, item_prof.shape[0], "item")]), persistent=False)
        self.n_users = int(user_prof.shape[0])
        self.mask_token = nn.Parameter(torch.zeros(1, ego_dim))
        self.mlp = _mlp(cf_dim, self.prof.shape[1])
        self.mask_ratio, self.recon_weight, self.re_temperature = float(mask_ratio), float(recon_weight), float(re_temperature)

    def coverage(self) -> tuple[int, int, int, int]:
        """(users with a profile, users, items with a profile, items)."""
        u, i = self.prof_ok[:self.n_users], self.prof_ok[self.n_users:]
        return int(u.sum()), u.numel(), int(i.sum()), i.numel()

    def prepare(self, ego: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = ego.shape[0]
        k = max(int(n * self.mask_ratio), 1)
        seeds = torch.randperm(n, device=ego.device)[:k]
        keep = torch.ones(n, 1, device=ego.device, dtype=ego.dtype)
        keep[seeds] = 0.0
        return ego * keep + self.mask_token * (1.0 - keep), seeds

    def loss(self, out: TrainOutput, batch: Batch, state: torch.Tensor) -> dict[str, torch.Tensor]:
        state = state[self.prof_ok[state]]  # masked nodes whose profile failed have nothing to reconstruct
        nodes = torch.cat([out.users, out.items])[state]
        if state.numel() == 0:
            return {"recon": nodes.sum() * 0.0}
        recon = info_nce(self.mlp(nodes), self.prof[state], temperature=self.re_temperature)
        return {"recon": self.recon_weight * recon}
