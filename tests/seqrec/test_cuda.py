"""SASRec on each device: the same body runs on CPU here and on CUDA where present (the CUDA variant is marked
``gpu``). The states computed on the device equal the CPU's, and training there learns a planted order."""

from __future__ import annotations

import pytest
import torch

from lmrec.seqrec.sasrec import SASRec, SASRecConfig, evaluate_sasrec, train_sasrec

from ..learn.test_end_to_end import planted_dataset

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.mark.parametrize("device", DEVICES)
def test_states_on_device_equal_the_cpu_states(device):
    torch.manual_seed(0)
    model = SASRec(30, SASRecConfig(hidden_dim=16, n_blocks=2, n_heads=2, dropout=0.0, max_len=6)).eval()
    tokens = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 9]])
    on_cpu = model(tokens)
    on_dev = model.to(device)(tokens.to(device))
    assert on_dev.device.type == torch.device(device).type
    torch.testing.assert_close(on_dev.cpu(), on_cpu, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_training_on_device_learns_the_planted_order(device):
    ds = planted_dataset(n_items=30, n_users=90, length=8)
    torch.manual_seed(0)
    model = SASRec(ds.n_items, SASRecConfig(hidden_dim=32, n_blocks=1, n_heads=1, dropout=0.0, max_len=6,
                                            epochs=30, batch_size=32, lr=5e-3, eval_every=10, patience=0))
    before = evaluate_sasrec(model.to(device), ds, "test").metrics["ndcg@10"]
    result = train_sasrec(model, ds, model.config, device=device)
    assert next(model.parameters()).device.type == torch.device(device).type
    after = evaluate_sasrec(model, ds, "test").metrics["ndcg@10"]
    # each next item is the previous id + 1: a working model ranks it first for most users (chance ~ 0.1)
    assert before < 0.4 and after > 0.8 and result.best_epoch > 0
