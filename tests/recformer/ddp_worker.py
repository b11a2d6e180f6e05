"""Worker of test_ddp.py: pretrain + finetune a tiny Recformer in every process (``torchrun``)."""

import json
import sys

import torch
from transformers import AutoTokenizer

from lmrec.recformer import RecformerConfig, RecformerTrainConfig, finetune, pretrain, tokenize_items
from lmrec.recformer.encoder import minilm_path
from lmrec.recformer.items import item_attributes
from lmrec.seqrec import SEQ_PROTOCOL, LeaveOneOut
from lmrec.train import make_accelerator
from tests.recformer.fixtures import successor_dataset, tiny_model

tok = AutoTokenizer.from_pretrained(str(minilm_path()))
data = successor_dataset()
cfg = RecformerConfig(max_token_num=48, attention_window=8, max_item_embeddings=8)
model = tiny_model(cfg, hidden=32, layers=1)
items = tokenize_items(item_attributes(data), tok, cfg)
loo = LeaveOneOut.from_dataset(data)
acc = make_accelerator("cpu")
train = RecformerTrainConfig(max_steps_per_epoch=None, lr=3e-3, batch_size=8, warmup_steps=0)
hist = pretrain(model, tok, items, loo.train, train, acc, epochs=2, progress=False)
res = finetune(model, tok, items, data, loo.train, loo.history("valid"), SEQ_PROTOCOL, train, acc, 2, 1, progress=False)
with open(f"{sys.argv[1]}/rank{acc.process_index}.json", "w") as fh:
    json.dump({"world": acc.num_processes, "steps": len(hist), "best_valid": res.best_valid,
               "weights": float(sum(p.detach().double().sum() for p in model.parameters())),
               "item_pos": float(torch.as_tensor(model.embeddings.item_position_embeddings.weight).double().sum())}, fh)
