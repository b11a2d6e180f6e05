"""Recformer finetuning: seconds per step at several sequence lengths and attention kernels, in one process.

Each setting runs 3 finetuning steps of 16 users on MovieLens-100K (leave-one-out by time) after building the
item table, and prints the mean of the last two steps; the numbers are for ratios between settings (run it on a
quiet machine for absolute ones). Needs notebook 30's pretrained encoder for ml100k/loo_time/seed 2023/minilm
(``PRETRAINED=auto``), i.e. the main job or ``python -m lmrec run 30``.

Usage: python bench/recformer_step_cost.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lmrec.recformer import RecformerConfig, tokenize_items
from lmrec.recformer.pipeline import load_for_finetuning, prepare_data
from lmrec.recformer.train import FinetuneObjective, _Inputs, _model_inputs, encode_items, finetune_samples
from lmrec.seqrec import LeaveOneOut

SETTINGS = [(64, 8, "dense"), (256, 32, "dense"), (512, 32, "dense"), (512, 32, "longformer")]


def main() -> None:
    ds, attrs, _ = prepare_data("ml100k", "loo_time", 2023, "", 0)
    loo = LeaveOneOut.from_dataset(ds)
    rng = np.random.default_rng(0)
    for tokens, attr_len, impl in SETTINGS:
        cfg = RecformerConfig(max_attr_num=3, max_attr_length=attr_len, max_item_embeddings=51, max_token_num=tokens,
                              attention_window=64, temperature=0.05, attention_impl=impl)
        model, tokenizer, _ = load_for_finetuning("auto", "minilm", cfg, "ml100k", "loo_time", 2023, 0)
        items = tokenize_items(attrs, tokenizer, cfg)
        inputs = _Inputs(items, cfg, tokenizer)
        objective = FinetuneObjective(model)  # the loss the trainer optimises (paper Eq. 7)
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
        t0 = time.time()
        table = encode_items(model, tokenizer, items, 128, torch.device("cpu"))
        t_items = time.time() - t0
        users = rng.permutation(len(loo.train))[:48]
        times, lengths = [], []
        for k in range(3):
            hist, targets = finetune_samples([loo.train[u] for u in users[16 * k:16 * k + 16]], rng)
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
