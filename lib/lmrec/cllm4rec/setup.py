"""Building a CLLM4Rec model: its causal language model (by name, optionally cut to its first blocks), the
extended tokenizer, and the content documents of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .model import CLLM4Rec
from .tokenizer import UserItemTokenizer

TINY_LM = "tiny-random"


def load_language_model(name: str, device: str | torch.device = "cpu", n_layers: int = 0) -> tuple[Any, Any]:
    """``(causal LM, tokenizer)``: ``tiny-random`` (a 2-layer random Llama with SmolLM2's tokenizer, for
    smoke runs), ``smollm2-135m-instruct`` (the offline default), ``gpt2`` or any Hugging Face name/folder.
    ``n_layers > 0`` keeps only the first ``n_layers`` transformer blocks (a CPU-budget option, see
    :func:`truncate_layers`)."""
    from ..llm import load_causal_lm, tiny_random_causal_lm

    if name == TINY_LM:
        lm, tok = tiny_random_causal_lm(hidden=32, layers=2, heads=4, seed=0)
    else:
        lm, tok = load_causal_lm(name, device="cpu")
    if n_layers:
        truncate_layers(lm, n_layers)
    return lm.to(device), tok


def truncate_layers(lm, n_layers: int):
    """Keep the first ``n_layers`` transformer blocks of a causal LM (Llama-style ``model.layers`` or GPT-2's
    ``transformer.h``); the final norm and the LM head stay. Not in the paper: it trades LM depth for speed
    when the whole pipeline must run on a small CPU budget."""
    body = lm.base_model
    name = "layers" if hasattr(body, "layers") else "h" if hasattr(body, "h") else None
    if name is None:
        raise TypeError(f"{type(lm).__name__}: cannot find the list of transformer blocks to truncate (N_LM_LAYERS)")
    blocks = getattr(body, name)
    if not 0 < n_layers <= len(blocks):
        raise ValueError(f"N_LM_LAYERS={n_layers}: the LM has {len(blocks)} blocks; use 0 (all) or 1..{len(blocks)}")
    setattr(body, name, blocks[:n_layers])
    for attr in ("num_hidden_layers", "n_layer"):
        if hasattr(lm.config, attr):
            setattr(lm.config, attr, n_layers)
    if hasattr(lm.config, "layer_types") and lm.config.layer_types:
        lm.config.layer_types = lm.config.layer_types[:n_layers]
    return lm


def build_model(lm, base_tokenizer, n_users: int, n_items: int, freeze_lm: bool = True,
                device: str | torch.device = "cpu") -> tuple[CLLM4Rec, UserItemTokenizer]:
    """Wrap a causal LM and its tokenizer for ``n_users`` x ``n_items``."""
    tok = UserItemTokenizer(base_tokenizer, n_users, n_items)
    model = CLLM4Rec(lm, tok.n_vocab, n_users, n_items, freeze_lm=freeze_lm).to(device)
    return model, tok


CONTENT_SOURCES = ("item_text+user_attrs", "item_text", "reviews", "none")


def content_documents_for(dataset, source: str, dataset_name: str = "") -> list[tuple[str, str]]:
    """The content corpus of a run: ``item_text+user_attrs`` / ``item_text`` (MovieLens-style side text),
    ``reviews`` (CLLM4Rec's ``user_item_texts/review.pkl`` in the dataset folder) or ``none``."""
    from .documents import movielens_content_documents, review_documents

    if source not in CONTENT_SOURCES:
        raise ValueError(f"CONTENT={source!r}; choose one of {CONTENT_SOURCES}")
    if source == "none":
        return []
    if source == "reviews":
        from ..data.formats import read_cllm4rec_reviews

        if not dataset_name.startswith("cllm4rec:"):
            raise ValueError(f"CONTENT='reviews' needs DATASET='cllm4rec:<folder>' (got {dataset_name!r})")
        folder = Path(dataset_name.split(":", 1)[1])
        return review_documents(read_cllm4rec_reviews(folder, dataset.n_users, dataset.n_items))
    if dataset.item_text is None:
        raise ValueError(f"CONTENT={source!r}: dataset {dataset.name} has no item text; use CONTENT='none' or 'reviews'")
    users = dataset.user_attrs if source == "item_text+user_attrs" else None
    return movielens_content_documents(dataset.item_text, users)
