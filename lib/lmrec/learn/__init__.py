"""LEARN (AAAI'25, arXiv 2405.03988): frozen-LLM item content vectors + user/item preference alignment towers.

* :mod:`.content` — content extraction: mean-pooled, L2-normalised last hidden states of a frozen causal LLM,
  cached per (model, text).
* :mod:`.model` — the preference alignment tower (adaptor -> causal transformer -> projection), used as the
  user tower (last position of the history) and the item tower (single items).
* :mod:`.train` — contrastive pretraining and full-softmax finetuning under Accelerate, selected on validation.
* :mod:`.checkpoint` — how notebook 40 hands the pretrained towers on to notebook 41.
* :mod:`.pipeline` — what 40 and 41 share: the data, the content vectors, the configs built from parameters.
"""

from .checkpoint import load_towers, pretrained_towers, save_towers
from .content import ContentConfig, item_content_embeddings, llm_item_embeddings, mean_pool
from .model import LearnModel, PreferenceAlignment, TowerConfig
from .train import LearnTrainConfig, LearnTrainResult, evaluate_towers, train

__all__ = ["load_towers", "pretrained_towers", "save_towers", "ContentConfig", "item_content_embeddings", "llm_item_embeddings", "mean_pool", "LearnModel",
           "PreferenceAlignment", "TowerConfig", "LearnTrainConfig", "LearnTrainResult", "evaluate_towers", "train"]
