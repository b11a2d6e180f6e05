"""Offline fixtures: a byte-level BPE tokenizer trained on a few sentences and a tiny random Llama."""

from __future__ import annotations

import pytest
import torch

CORPUS = [
    "user_1 has interacted with item_2 item_3, user_1 will interact with",
    "user_4 writes the following review for item_5: this movie is great fun and too long.",
    "item_7 is described as: Toy Story (1995). Genres: Animation, Comedy.",
    "Hello, user_1! Have you seen item_2? a 24-year-old man working as technician.",
]


def make_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    raw.train_from_iterator(CORPUS * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", eos_token="<eos>")


def make_lm(vocab: int, hidden: int = 16, layers: int = 1, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, pad_token_id=0)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def base_tokenizer():
    return make_tokenizer()


@pytest.fixture(name="make_lm")
def make_lm_fixture():
    return make_lm


@pytest.fixture()
def tiny(base_tokenizer):
    from lmrec.cllm4rec import build_model

    lm = make_lm(len(base_tokenizer))
    return build_model(lm, base_tokenizer, n_users=6, n_items=9)
