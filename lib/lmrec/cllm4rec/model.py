"""CLLM4Rec model: a causal LM whose vocabulary is extended with user/item tokens (arXiv 2311.01343).

One frozen causal LM is shared by two sets of user/item token embeddings : the *collaborative*
tables (trained on interaction documents) and the *content* tables (trained on text
documents); the mutual regulariser ties the two. The input embedding of a token is the frozen LM
embedding for vocabulary ids (< N), the user table for N <= id < N+I and the item table for ids >= N+I,
summed by masks. The collaborative item head and the recommendation head are tied to the collaborative
item embeddings (logits = h @ E_item^T); the content LM head is the LM's own output layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

TABLES = ("collab", "content")


def transformer_body(lm: nn.Module) -> nn.Module:
    """The transformer body (no LM head) of a ``*ForCausalLM`` (Llama: ``.model``, GPT-2: ``.transformer``)."""
    base = getattr(lm, "base_model", None)
    if base is None or base is lm:
        raise TypeError(f"{type(lm).__name__} has no transformer body (expected a Hugging Face *ForCausalLM)")
    return base


class TokenTables(nn.Module):
    """Trainable user and item token embeddings (normal init with the LM's initializer range)."""

    def __init__(self, n_users: int, n_items: int, dim: int, std: float = 0.02) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user.weight, 0.0, std)
        nn.init.normal_(self.item.weight, 0.0, std)


@dataclass
class TokenMasks:
    vocab: torch.Tensor
    user: torch.Tensor
    item: torch.Tensor


class CLLM4Rec(nn.Module):
    """A causal LM + collaborative and content user/item tables.

    ``n_vocab`` is the base tokenizer's size N (user ids start there). ``freeze_lm`` keeps every LM weight
    fixed (the paper's setting); ``False`` trains the whole LM (ablation).
    """

    def __init__(self, lm: nn.Module, n_vocab: int, n_users: int, n_items: int, freeze_lm: bool = True) -> None:
        super().__init__()
        self.lm = lm
        self.n_vocab, self.n_users, self.n_items = int(n_vocab), int(n_users), int(n_items)
        emb = lm.get_input_embeddings()
        if emb.num_embeddings < self.n_vocab:
            raise ValueError(f"the LM has {emb.num_embeddings} input embeddings but the tokenizer {self.n_vocab} ids")
        dim = emb.embedding_dim
        std = float(getattr(lm.config, "initializer_range", 0.02))
        self.tables = nn.ModuleDict({name: TokenTables(n_users, n_items, dim, std) for name in TABLES})
        self.freeze_lm = freeze_lm
        for p in self.lm.parameters():
            p.requires_grad_(not freeze_lm)

    # ------------------------------------------------------------ embedding
    def masks(self, ids: torch.Tensor) -> TokenMasks:
        """Boolean masks of vocabulary, user and item positions."""
        user_start, item_start = self.n_vocab, self.n_vocab + self.n_users
        return TokenMasks(vocab=ids < user_start, user=(ids >= user_start) & (ids < item_start), item=ids >= item_start)

    def embed(self, ids: torch.Tensor, table: str = "collab") -> torch.Tensor:
        """Input embeddings ``[B, L, d]``: LM vocabulary + user table + item table, summed by masks."""
        m = self.masks(ids)
        tab = self.tables[table]
        vocab_ids = torch.where(m.vocab, ids, torch.zeros_like(ids))
        user_ids = torch.where(m.user, ids - self.n_vocab, torch.zeros_like(ids))
        item_ids = torch.where(m.item, ids - self.n_vocab - self.n_users, torch.zeros_like(ids))
        out = self.lm.get_input_embeddings()(vocab_ids) * m.vocab.unsqueeze(-1)
        out = out + tab.user(user_ids) * m.user.unsqueeze(-1)
        return out + tab.item(item_ids) * m.item.unsqueeze(-1)

    def hidden(self, ids: torch.Tensor, attention_mask: torch.Tensor, table: str = "collab") -> torch.Tensor:
        """Last hidden states ``[B, L, d]`` of the LM's transformer body on the extended-vocabulary ids."""
        out = transformer_body(self.lm)(inputs_embeds=self.embed(ids, table), attention_mask=attention_mask,
                                   use_cache=False, return_dict=True)
        return out.last_hidden_state

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Item head tied to the collaborative item embeddings: ``hidden @ E_item^T``."""
        return hidden @ self.tables["collab"].item.weight.T

    def vocab_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The LM's own output layer over the base vocabulary (first N ids)."""
        return self.lm.get_output_embeddings()(hidden)[..., :self.n_vocab]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds: the user/item tables (plus the LM weights only when it is unfrozen)."""
        state = {k: v.detach().cpu() for k, v in self.tables.state_dict().items()}
        if not self.freeze_lm:
            state.update({f"lm.{k}": v.detach().cpu() for k, v in self.lm.state_dict().items()})
        return state

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        tables = {k: v for k, v in state.items() if not k.startswith("lm.")}
        self.tables.load_state_dict(tables)
        lm = {k[3:]: v for k, v in state.items() if k.startswith("lm.")}
        if lm:
            self.lm.load_state_dict(lm)


# ------------------------------------------------------------------- losses
def shifted_targets(main_ids: torch.Tensor, main_mask: torch.Tensor, prompt_len: int,
                    predict_first: bool = True) -> tuple[slice, torch.Tensor, torch.Tensor]:
    """Positions whose outputs predict the main-text tokens of a ``prompt + main`` sequence.

    The output at position t predicts token t+1. With ``predict_first`` (the paper), the last prompt position
    predicts the first main token; the original code starts one later (it never predicts the first item).
    Returns ``(position slice, targets [B, M'], mask [B, M'])``.
    """
    start = 0 if predict_first else 1
    return slice(prompt_len - 1 + start, prompt_len + main_ids.shape[1] - 1), main_ids[:, start:], main_mask[:, start:]


def masked_ce(head, hidden: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``head(hidden)`` over the positions where ``mask`` is set (the head is applied
    to those positions only: padding never reaches the vocabulary/item softmax)."""
    keep = mask.bool()
    return F.cross_entropy(head(hidden[keep]), targets[keep])


def collaborative_lm_loss(model: CLLM4Rec, prompt_ids: torch.Tensor, main_items: torch.Tensor,
                          main_mask: torch.Tensor, predict_first: bool = True) -> torch.Tensor:
    """Collaborative LM: next-item likelihood of the user's items given the soft+hard prompt, softmax over items only.

    ``prompt_ids`` [B, P] (no padding: all collaborative prompts have the same length), ``main_items`` [B, M]
    item indices (0..J-1, padded anywhere ``main_mask`` is 0).
    """
    ids = torch.cat([prompt_ids, main_items + model.n_vocab + model.n_users], 1)
    att = torch.cat([torch.ones_like(prompt_ids), main_mask], 1)
    h = model.hidden(ids, att, "collab")
    pos, tgt, msk = shifted_targets(main_items, main_mask, prompt_ids.shape[1], predict_first)
    return masked_ce(model.item_logits, h[:, pos], tgt, msk)


def content_lm_loss(model: CLLM4Rec, prompt_ids: torch.Tensor, main_ids: torch.Tensor, main_mask: torch.Tensor,
                    predict_first: bool = True) -> torch.Tensor:
    """Content LM: next-token likelihood of the content text (vocabulary softmax) given its user/item prompt."""
    ids = torch.cat([prompt_ids, main_ids], 1)
    att = torch.cat([torch.ones_like(prompt_ids), main_mask], 1)
    h = model.hidden(ids, att, "content")
    pos, tgt, msk = shifted_targets(main_ids, main_mask, prompt_ids.shape[1], predict_first)
    return masked_ce(model.vocab_logits, h[:, pos], tgt, msk)


def mutual_regularizer(model: CLLM4Rec, ids: torch.Tensor, mask: torch.Tensor, train: str,
                       lambda_v: float) -> torch.Tensor:
    """Mutual regulariser: ``lambda_V / 2 * sum ||z_train - z_other||^2`` over the user/item token occurrences in ``ids``.

    ``train`` names the table being updated (``collab`` or ``content``); the other table is the fixed
    Gaussian mean (detached), which is how the paper alternates the two updates. Vocabulary positions share
    one embedding and contribute nothing. (The original code omits the 1/2: its lambda_V=1 is our 2.)
    """
    other = "content" if train == "collab" else "collab"
    m = model.masks(ids)
    special = (m.user | m.item) & mask.bool()
    diff = model.embed(ids, train) - model.embed(ids, other).detach()
    return 0.5 * lambda_v * (diff.pow(2).sum(-1) * special).sum()


def last_position_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden state at the last non-padding position of each right-padded row."""
    last = attention_mask.sum(1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def recommendation_scores(model: CLLM4Rec, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Item logits ``[B, J]`` at the last prompt position ("... user_i will interact with")."""
    h = model.hidden(ids, attention_mask, "collab")
    return model.item_logits(last_position_hidden(h, attention_mask))


def multinomial_nll(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Recommendation loss: ``-mean_u sum_j t_uj log softmax(scores_u)_j`` (Multi-VAE's multinomial likelihood)."""
    return -(F.log_softmax(scores, -1) * targets).sum(-1).mean()


def target_item_regularizer(model: CLLM4Rec, targets: torch.Tensor, lambda_v: float) -> torch.Tensor:
    """Mutual regulariser over the target items of a recommendation batch (``targets`` [B, J] 0/1): the
    item tokens the finetuning loss predicts, counted once per (user, target item) pair."""
    tabs = model.tables
    sq = (tabs["collab"].item.weight - tabs["content"].item.weight.detach()).pow(2).sum(-1)
    return 0.5 * lambda_v * (targets @ sq).sum()


class TaskModel(nn.Module):
    """One ``forward`` for every training task, so a distributed wrapper (DDP via Accelerate) sees the call.

    ``task``: ``collab`` (collaborative LM, collaborative tables + regulariser towards the content tables),
    ``content`` (content LM, content tables + regulariser towards the collaborative tables) or ``rec``
    (multinomial recommendation loss, collaborative tables). Returns ``(loss, regulariser)``; ``loss``
    already includes the regulariser.
    """

    def __init__(self, model: CLLM4Rec) -> None:
        super().__init__()
        self.model = model

    def forward(self, task: str, lambda_v: float = 0.0, predict_first: bool = True, **batch: torch.Tensor):
        m = self.model
        zero = torch.zeros((), device=next(iter(batch.values())).device)
        if task == "collab":
            loss = collaborative_lm_loss(m, batch["prompt_ids"], batch["main_ids"], batch["main_mask"], predict_first)
            reg = zero
            if lambda_v:
                ids = torch.cat([batch["prompt_ids"], batch["main_ids"] + m.n_vocab + m.n_users], 1)
                mask = torch.cat([torch.ones_like(batch["prompt_ids"]), batch["main_mask"]], 1)
                reg = mutual_regularizer(m, ids, mask, "collab", lambda_v)
        elif task == "content":
            loss = content_lm_loss(m, batch["prompt_ids"], batch["main_ids"], batch["main_mask"], predict_first)
            reg = mutual_regularizer(m, batch["prompt_ids"], torch.ones_like(batch["prompt_ids"]), "content",
                                     lambda_v) if lambda_v else zero
        elif task == "rec":
            loss = multinomial_nll(recommendation_scores(m, batch["ids"], batch["attention_mask"]), batch["targets"])
            reg = zero
            if lambda_v:
                reg = (mutual_regularizer(m, batch["ids"], batch["attention_mask"], "collab", lambda_v)
                       + target_item_regularizer(m, batch["targets"], lambda_v))
        else:
            raise ValueError(f"unknown task {task!r}; use collab, content or rec")
        return loss + reg, reg
