"""CLLM4Rec (Zhu et al., WWW'24, arXiv 2311.01343): an LLM with user/item tokens for recommendation.

Modules: :mod:`.tokenizer` (atomic ``user_i``/``item_j`` tokens), :mod:`.model` (extended embeddings,
heads, losses), :mod:`.documents` (prompts and main texts), :mod:`.train` (pretraining, finetuning,
scoring under Accelerate), :mod:`.setup` (loading the language model, building the model),
:mod:`.stages` (the tables handed on from notebook 50 to 51 to 52, the stage configs from parameters).
"""

from .documents import movielens_content_documents, review_documents
from .model import (
    CLLM4Rec,
    TaskModel,
    collaborative_lm_loss,
    content_lm_loss,
    multinomial_nll,
    mutual_regularizer,
    recommendation_scores,
)
from .setup import build_model, load_language_model
from .stages import finetune_config, load_tables, pretrain_config, save_tables, take_over_tables
from .tokenizer import UserItemTokenizer
from .train import CLLM4RecTrainer, FinetuneConfig, PretrainConfig

__all__ = [  # in import order, one line per module
    "movielens_content_documents", "review_documents",
    "CLLM4Rec", "TaskModel", "collaborative_lm_loss", "content_lm_loss", "multinomial_nll", "mutual_regularizer",
    "recommendation_scores",
    "build_model", "load_language_model",
    "finetune_config", "load_tables", "pretrain_config", "save_tables", "take_over_tables",
    "UserItemTokenizer",
    "CLLM4RecTrainer", "FinetuneConfig", "PretrainConfig",
]
