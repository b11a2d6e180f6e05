"""The Recformer encoder (KDD'23, arXiv 2305.13731, Sec. 3.1-3.2) and its losses (Eq. 4-7).

Embedding of token k (Eq. 1): ``E_k = LayerNorm(word + token position + token type + item position)``,
then a Longformer encoder (transformers' ``LongformerEncoder``: sliding-window attention of width
``attention_window`` with global attention on ``<s>``), and the ``<s>`` state (or the mean) as the sequence
vector. Scores are cosine similarities divided by the temperature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LongformerConfig
from transformers.models.longformer.modeling_longformer import LongformerEncoder

from .config import TYPE_PAD, RecformerConfig


@dataclass
class EncoderSpec:
    """Shape of the pretrained encoder the Recformer is built on."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    pad_token_id: int
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    hidden_act: str = "gelu"
    roberta_positions: bool = False  # RoBERTa/Longformer count positions from pad_token_id + 1; BERT from 0
    name: str = ""

    def longformer_config(self, config: RecformerConfig) -> LongformerConfig:
        return LongformerConfig(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act, hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings, layer_norm_eps=self.layer_norm_eps,
            pad_token_id=self.pad_token_id, attention_window=[config.attention_window] * self.num_hidden_layers,
        )


class RecformerEmbeddings(nn.Module):
    """Word + token-position + token-type (4 rows) + item-position embeddings, LayerNorm, dropout."""

    def __init__(self, spec: EncoderSpec, config: RecformerConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(spec.vocab_size, spec.hidden_size, padding_idx=spec.pad_token_id)
        self.position_embeddings = nn.Embedding(spec.max_position_embeddings, spec.hidden_size)
        self.token_type_embeddings = nn.Embedding(TYPE_PAD + 1, spec.hidden_size)
        self.item_position_embeddings = nn.Embedding(config.max_item_embeddings, spec.hidden_size)
        self.LayerNorm = nn.LayerNorm(spec.hidden_size, eps=spec.layer_norm_eps)
        self.dropout = nn.Dropout(spec.hidden_dropout_prob)
        self.pad_token_id = spec.pad_token_id
        self.roberta_positions = spec.roberta_positions

    def position_ids(self, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.roberta_positions:  # fairseq make_positions: pads keep padding_idx, real tokens count from it + 1
            mask = attention_mask.long()
            return torch.cumsum(mask, 1) * mask + self.pad_token_id
        return torch.arange(attention_mask.shape[1], device=attention_mask.device).expand_as(attention_mask)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, item_position_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        emb = (self.word_embeddings(input_ids) + self.position_embeddings(self.position_ids(attention_mask))
               + self.token_type_embeddings(token_type_ids) + self.item_position_embeddings(item_position_ids))
        return self.dropout(self.LayerNorm(emb))


class LMHead(nn.Module):
    """MLM head: dense -> GELU -> LayerNorm -> decoder tied to the word embeddings (+ bias)."""

    def __init__(self, spec: EncoderSpec, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(spec.hidden_size, spec.hidden_size)
        self.layer_norm = nn.LayerNorm(spec.hidden_size, eps=spec.layer_norm_eps)
        self.word_embeddings = word_embeddings
        self.bias = nn.Parameter(torch.zeros(spec.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(F.gelu(self.dense(hidden)))
        return x @ self.word_embeddings.weight.T + self.bias


class Recformer(nn.Module):
    """Recformer encoder + MLM head. ``encode(batch)`` gives one vector per user or item sequence."""

    def __init__(self, spec: EncoderSpec, config: RecformerConfig):
        super().__init__()
        needed = _round_up(config.max_token_num, config.attention_window) + (spec.pad_token_id + 1 if spec.roberta_positions else 0)
        if needed > spec.max_position_embeddings:
            raise ValueError(
                f"max_token_num={config.max_token_num} (padded to the attention window {config.attention_window}) needs "
                f"{needed} token positions but the language model {spec.name or '?'} has {spec.max_position_embeddings}; "
                f"lower max_token_num or attention_window")
        self.spec = spec
        self.config = config
        self.embeddings = RecformerEmbeddings(spec, config)
        self.encoder = LongformerEncoder(spec.longformer_config(config))
        self.lm_head = LMHead(spec, self.embeddings.word_embeddings)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, item_position_ids: torch.Tensor,
                attention_mask: torch.Tensor, global_attention_mask: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """Last hidden states ``[B, L, H]``."""
        if self.config.attention_impl == "dense":
            hidden = self.embeddings(input_ids, token_type_ids, item_position_ids, attention_mask)
            real, glob = attention_mask.bool(), global_attention_mask.bool() & attention_mask.bool()
            for layer in self.encoder.layer:
                hidden = dense_longformer_layer(layer, hidden, real, glob, self.config.attention_window // 2)
            return hidden
        length = input_ids.shape[1]
        pad = _round_up(length, self.config.attention_window) - length
        if pad:  # transformers' chunked attention needs a multiple of the window
            def extend(t: torch.Tensor, value: int) -> torch.Tensor:
                return F.pad(t, (0, pad), value=value)
            input_ids = extend(input_ids, self.spec.pad_token_id)
            token_type_ids = extend(token_type_ids, TYPE_PAD)
            item_position_ids = extend(item_position_ids, self.config.max_item_embeddings - 1)
            attention_mask = extend(attention_mask, 0)
            global_attention_mask = extend(global_attention_mask, 0)
        hidden = self.embeddings(input_ids, token_type_ids, item_position_ids, attention_mask)
        # Longformer's encoder reads one float mask: < 0 padding, 0 sliding-window, > 0 global attention
        mask = torch.where(attention_mask.bool(), torch.where(global_attention_mask.bool(), 10000.0, 0.0), -10000.0)
        out = self.encoder(hidden, attention_mask=mask.to(hidden.dtype), padding_len=0, return_dict=True)
        return out.last_hidden_state[:, :length]

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.config.pooler == "cls":
            return hidden[:, 0]
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1)

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sequence vectors ``[B, H]`` (``<s>`` state by default)."""
        return self.pool(self(**batch), batch["attention_mask"])


def dense_longformer_layer(layer: nn.Module, hidden: torch.Tensor, real: torch.Tensor, glob: torch.Tensor,
                           one_sided: int) -> torch.Tensor:
    """One ``LongformerLayer`` computed with dense masked attention (same weights, same function).

    Local rows attend to keys within ``one_sided`` positions that are real and not global, plus every
    global key (local projections); global rows attend to all real keys with the ``*_global`` projections;
    padded query rows get a zero attention output -- exactly what transformers' sliding-chunk kernel
    computes, but as ``L x L`` matrix products, which is much faster on CPU for short sequences."""
    att = layer.attention.self
    b, n, _ = hidden.shape
    heads, d = att.num_heads, att.head_dim

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(b, n, heads, d).transpose(1, 2)

    pos = torch.arange(n, device=hidden.device)
    band = (pos[:, None] - pos[None, :]).abs() <= one_sided
    allowed = (band[None] & (real & ~glob)[:, None, :]) | glob[:, None, :]  # [B, Lq, Lk]
    q = split(att.query(hidden)) / math.sqrt(d)
    scores = (q @ split(att.key(hidden)).transpose(-1, -2)).float()
    scores = scores.masked_fill(~allowed[:, None], torch.finfo(scores.dtype).min)
    probs = torch.softmax(scores, -1).masked_fill(~real[:, None, :, None], 0.0).to(hidden.dtype)
    probs = F.dropout(probs, p=att.dropout, training=att.training)
    out = probs @ split(att.value(hidden))
    if glob.any():
        qg = split(att.query_global(hidden)) / math.sqrt(d)
        sg = (qg @ split(att.key_global(hidden)).transpose(-1, -2)).float()
        sg = sg.masked_fill(~real[:, None, None, :], torch.finfo(sg.dtype).min)
        pg = F.dropout(torch.softmax(sg, -1).to(hidden.dtype), p=att.dropout, training=att.training)
        out = torch.where(glob[:, None, :, None], pg @ split(att.value_global(hidden)), out)
    attn = layer.attention.output(out.transpose(1, 2).reshape(b, n, heads * d), hidden)
    return layer.output(layer.intermediate(attn), attn)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


# ----------------------------------------------------------------------------------------------- losses
def cosine_logits(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """``cos(a_i, b_j) / temperature`` for all pairs: ``[len(a), len(b)]``."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature


def contrastive_loss(history: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """Item-item contrastive loss with in-batch negatives (paper Eq. 5): row i's positive is target i."""
    logits = cosine_logits(history, target, temperature)
    return F.cross_entropy(logits, torch.arange(len(history), device=history.device))


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Masked-LM cross-entropy over tokens whose label is not -100 (paper Eq. 4)."""
    if not (labels != -100).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def finetune_loss(user: torch.Tensor, item_table: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Full softmax over all items (paper Eq. 7): ``CE(cos(user, item_table) / temperature, target)``."""
    return F.cross_entropy(cosine_logits(user, item_table, temperature), targets)
