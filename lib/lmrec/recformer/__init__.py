"""Recformer (Li et al., KDD'23, arXiv 2305.13731): items as key-value sentences, a Longformer-style
encoder with token-type and item-position embeddings, MLM + contrastive pretraining, two-stage finetuning.

* :mod:`.config` -- input layout and objective settings; :mod:`.tokenization` -- item sentences, user
  sequences, whole-word masking; :mod:`.model` -- embeddings, encoder, losses; :mod:`.encoder` -- MiniLM
  (offline) / BERT / Longformer starting points; :mod:`.train` -- pretraining, finetuning, evaluation under
  Accelerate; :mod:`.items` -- item attributes of a dataset; :mod:`.corpus` -- the Amazon pretraining corpus.
"""

from .config import RecformerConfig
from .encoder import load_encoder
from .items import item_attributes, restrict_to_text
from .model import Recformer, contrastive_loss, finetune_loss, mlm_loss
from .tokenization import TokenizedItems, collate, encode_sequence, tokenize_items, whole_word_mask
from .train import (
    FinetuneResult,
    RecformerTrainConfig,
    encode_histories,
    encode_items,
    evaluate_recformer,
    finetune,
    pretrain,
)

__all__ = [
    "load_encoder", "RecformerConfig", "item_attributes", "restrict_to_text", "Recformer", "contrastive_loss",
    "finetune_loss", "mlm_loss", "TokenizedItems", "collate", "encode_sequence", "tokenize_items",
    "whole_word_mask", "FinetuneResult", "RecformerTrainConfig", "encode_histories", "encode_items",
    "evaluate_recformer", "finetune", "pretrain",
]
