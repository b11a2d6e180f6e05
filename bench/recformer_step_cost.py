"""Recformer finetuning: seconds per step at several sequence lengths and attention kernels, in one process.

Each setting runs 3 finetuning steps of notebook 31's ``BATCH_SIZE`` users on its data (MovieLens-100K, leave-one-out
by time) after building the item table, and prints the mean of the last two steps; the numbers are for ratios between
settings (run it on a quiet machine for absolute ones). Everything but the setting (tokens per sequence and per
attribute, attention kernel) is notebook 31's default, the main job's finetuning, read from its parameters cell;
the first setting is the main job's own. Needs notebook 30's pretrained encoder for that data, seed and LM
(``PRETRAINED=auto``), i.e. the main job or ``python -m lmrec run 30``.

Usage: python bench/recformer_step_cost.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lmrec.defaults import notebook_defaults
from lmrec.recformer import RecformerConfig, tokenize_items
from lmrec.recformer.pipeline import load_for_finetuning, prepare_data
from lmrec.recformer.train import FinetuneObjective, _Inputs, _model_inputs, encode_items, finetune_samples
from lmrec.seqrec import LeaveOneOut

NB31 = notebook_defaults("31_recformer_finetune")  # the main job's finetuning; only the settings below vary
SETTINGS = [(NB31["MAX_TOKEN_NUM"], NB31["MAX_ATTR_LENGTH"], NB31["ATTENTION_IMPL"]),
            (256, 32, "dense"), (512, 32, "dense"), (512, 32, "longformer")]


def config(tokens: int, attr_len: int, impl: str) -> RecformerConfig:
    """Notebook 31's layout with one setting's sequence length, attribute length and attention kernel."""
    return RecformerConfig(max_attr_num=NB31["MAX_ATTR_NUM"], max_attr_length=attr_len,
                           max_item_embeddings=NB31["MAX_ITEM_EMBEDDINGS"], max_token_num=tokens,
                           attention_window=NB31["ATTENTION_WINDOW"], temperature=NB31["TEMPERATURE"],
                           attention_impl=impl)


def main() -> None:
    nb, step_users = NB31, NB31["BATCH_SIZE"]
    ds, attrs, _ = prepare_data(nb["DATASET"], nb["SPLIT"], nb["SEED"], nb["TEXT_FIELDS"], nb["MAX_USERS"])
    loo = LeaveOneOut.from_dataset(ds)
    rng = np.random.default_rng(0)
    for tokens, attr_len, impl in SETTINGS:
        cfg = config(tokens, attr_len, impl)
        model, tokenizer, _ = load_for_finetuning(nb["PRETRAINED"], nb["LM"], cfg, nb["DATASET"], nb["SPLIT"],
                                                  nb["PRETRAIN_SEED"] or nb["SEED"], nb["N_LM_LAYERS"])
        items = tokenize_items(attrs, tokenizer, cfg)
        inputs = _Inputs(items, cfg, tokenizer)
        objective = FinetuneObjective(model)  # the loss the trainer optimises (paper Eq. 7)
        opt = torch.optim.AdamW(model.parameters(), lr=nb["LR"])
        t0 = time.time()
        table = encode_items(model, tokenizer, items, nb["EVAL_BATCH_SIZE"], torch.device("cpu"))
        t_items = time.time() - t0
        users = rng.permutation(len(loo.train))[:3 * step_users]
        times, lengths = [], []
        for k in range(3):
            hist, targets = finetune_samples([loo.train[u] for u in users[step_users * k:step_users * (k + 1)]], rng)
            batch = inputs.batch(hist)
            lengths.append(int(batch["input_ids"].shape[1]))
            t0 = time.time()
            loss = objective(_model_inputs(batch, "cpu"), table, torch.as_tensor(targets))
            loss.backward()
            opt.step()
            opt.zero_grad()
            times.append(time.time() - t0)
        load = open("/proc/loadavg").read().split()[0]
        print(f"{tokens} tokens, {attr_len} per attribute, {impl}: item table {t_items:.1f} s, "
              f"step {np.mean(times[1:]):.2f} s (batch lengths {lengths}), load {load}", flush=True)


if __name__ == "__main__":
    main()
