"""CLLM4Rec (Zhu et al., WWW'24, arXiv 2311.01343): an LLM with user/item tokens for recommendation.

Modules: :mod:`.tokenizer` (atomic ``user_i``/``item_j`` tokens), :mod:`.model` (extended embeddings,
heads, losses), :mod:`.documents` (prompts and main texts), :mod:`.train` (pretraining, finetuning,
scoring under Accelerate), :mod:`.setup` (backbone loading, cached tables).
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
from .setup import build_model, load_backbone, load_stage, save_stage, stage_dir
from .tokenizer import UserItemTokenizer
from .train import CLLM4RecTrainer, FinetuneConfig, PretrainConfig

__all__ = [
    "CLLM4Rec", "TaskModel", "UserItemTokenizer", "CLLM4RecTrainer", "PretrainConfig", "FinetuneConfig",
    "build_model", "load_backbone", "load_stage", "save_stage", "stage_dir",
    "collaborative_lm_loss", "content_lm_loss", "multinomial_nll", "mutual_regularizer", "recommendation_scores",
    "movielens_content_documents", "review_documents",
]
