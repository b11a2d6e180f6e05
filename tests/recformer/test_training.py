"""Sampling of training pairs, planted-signal learning (pretraining and finetuning), evaluation protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.recformer import RecformerConfig, RecformerTrainConfig, finetune, pretrain, tokenize_items
from lmrec.recformer.items import item_attributes
from lmrec.recformer.train import encode_items, evaluate_recformer, finetune_samples, pretrain_pairs
from lmrec.seqrec import SEQ_PROTOCOL, LeaveOneOut
from lmrec.train import make_accelerator

from .fixtures import successor_dataset, tiny_model


def test_pretrain_pairs_draw_targets_from_the_second_half():
    seq = np.arange(10)
    rng = np.random.default_rng(0)
    ts = []
    for _ in range(300):
        hist, target = pretrain_pairs([seq], rng)
        assert list(hist[0]) == list(range(target[0]))
        ts.append(target[0])
    assert min(ts) == 4 and max(ts) == 9  # (n-1)//2 .. n-1


def test_finetune_samples_cover_every_position():
    rng = np.random.default_rng(0)
    ts = {finetune_samples([np.arange(5)], rng)[1][0] for _ in range(200)}
    assert ts == {0, 1, 2, 3, 4}


def _setup(tokenizer, seed=0):
    dataset = successor_dataset()
    config = RecformerConfig(max_token_num=48, attention_window=8, max_item_embeddings=8, temperature=0.05)
    model = tiny_model(config, hidden=32, layers=1)
    items = tokenize_items(item_attributes(dataset), tokenizer, config)
    return dataset, model, items, LeaveOneOut.from_dataset(dataset)


def test_pretraining_reduces_its_losses_on_planted_sequences(tokenizer):
    dataset, model, items, loo = _setup(tokenizer)
    torch.manual_seed(0)
    hist = pretrain(model, tokenizer, items, loo.train, RecformerTrainConfig(max_steps_per_epoch=None, lr=3e-3, batch_size=16, warmup_steps=0),
                    make_accelerator("cpu"), epochs=12, seed=0, progress=False)
    first, last = hist[:4], hist[-4:]
    for key in ("cl", "mlm_a"):
        assert np.mean([h[key] for h in last]) < np.mean([h[key] for h in first]) - 0.3, key
    assert np.isclose(hist[0]["loss"], hist[0]["cl"] + 0.1 * (hist[0]["mlm_a"] + hist[0]["mlm_b"]), rtol=1e-5)


def test_pretraining_visits_every_sequence_once_per_epoch_in_a_new_order(tokenizer, monkeypatch):
    import lmrec.recformer.train as train_mod

    dataset, model, items, loo = _setup(tokenizer)
    seen: list[tuple] = []
    real_pairs = train_mod.pretrain_pairs

    def spy(sequences, rng):
        seen.extend(tuple(int(i) for i in s) for s in sequences)
        return real_pairs(sequences, rng)

    monkeypatch.setattr(train_mod, "pretrain_pairs", spy)
    pretrain(model, tokenizer, items, loo.train, RecformerTrainConfig(max_steps_per_epoch=None, batch_size=16, warmup_steps=0),
             make_accelerator("cpu"), epochs=2, seed=0, progress=False)
    users = [tuple(int(i) for i in s) for s in loo.train if len(s) >= 2]
    first, second = seen[:len(users)], seen[len(users):]
    assert sorted(first) == sorted(users) and sorted(second) == sorted(users)
    assert first != second


def test_two_stage_finetuning_learns_the_successor_rule(tokenizer):
    dataset, model, items, loo = _setup(tokenizer)
    torch.manual_seed(0)
    before = evaluate_recformer(model, tokenizer, items, dataset, "valid", loo.history("valid"), SEQ_PROTOCOL)
    res = finetune(model, tokenizer, items, dataset, loo.train, loo.history("valid"), SEQ_PROTOCOL,
                   RecformerTrainConfig(max_steps_per_epoch=None, lr=3e-3, batch_size=16, warmup_steps=0), make_accelerator("cpu"),
                   stage1_epochs=25, stage2_epochs=3, progress=False, seed=0)
    after = evaluate_recformer(model, tokenizer, items, dataset, "valid", loo.history("valid"), SEQ_PROTOCOL,
                               item_table=res.item_table)
    # 16 items: a random ranking puts the target in the top 10 with probability 10/16 and has MRR ~0.21
    assert after.metrics["mrr"] > 0.6 > before.metrics["mrr"]
    assert after.metrics["ndcg@10"] == pytest.approx(res.best_valid, abs=1e-6)  # the best state is restored
    assert {h["stage"] for h in res.history} == {1, 2}
    test = evaluate_recformer(model, tokenizer, items, dataset, "test", loo.history("test"), SEQ_PROTOCOL,
                              item_table=res.item_table)
    assert test.metrics["mrr"] > 0.5


def test_stage_one_re_encodes_the_table_each_epoch_and_stage_two_keeps_the_best_one(tokenizer, monkeypatch):
    """Algorithm 1: stage 1 trains against a table re-encoded before every epoch; stage 2 trains against the
    best stage-1 table, unchanged, for all its epochs."""
    import lmrec.recformer.train as train_mod

    dataset, model, items, loo = _setup(tokenizer)
    seen: list[torch.Tensor] = []
    real_loss = train_mod.finetune_loss

    def spy(users, table, targets, tau):
        seen.append(table.detach().clone())
        return real_loss(users, table, targets, tau)

    monkeypatch.setattr(train_mod, "finetune_loss", spy)
    torch.manual_seed(0)
    res = finetune(model, tokenizer, items, dataset, loo.train, loo.history("valid"), SEQ_PROTOCOL,
                   RecformerTrainConfig(lr=3e-3, batch_size=16, warmup_steps=0, max_steps_per_epoch=2),
                   make_accelerator("cpu"), stage1_epochs=3, stage2_epochs=3, patience=(9, 9), progress=False, seed=0)
    per_stage = {s: [h for h in res.history if h.get("stage") == s and "loss" in h] for s in (1, 2)}
    assert len(per_stage[1]) == 3 and len(per_stage[2]) == 3
    steps = len(seen) // 6
    stage1 = [seen[i * steps] for i in range(3)]
    stage2 = seen[3 * steps:]
    for e in range(3):  # one table per stage-1 epoch, a new one each epoch
        assert all(torch.equal(t, stage1[e]) for t in seen[e * steps:(e + 1) * steps])
    assert not torch.equal(stage1[0], stage1[1]) and not torch.equal(stage1[1], stage1[2])
    best1 = max(per_stage[1], key=lambda h: h.get("valid_ndcg@10", float("-inf")))
    assert all(torch.equal(t, stage1[per_stage[1].index(best1)]) for t in stage2)


def test_stage_two_keeps_a_state_only_if_it_beats_stage_ones_best(tokenizer, monkeypatch):
    """Validation is scripted: stage 1 peaks at its second epoch, stage 2 never reaches that, so the model ends in
    the stage-1 state with its table, and the result names stage 1."""
    import types

    import lmrec.recformer.train as train_mod

    dataset, model, items, loo = _setup(tokenizer)
    scores = iter([0.5, 0.6, 0.4, 0.3, 0.55])
    states = []

    def scripted(model, *args, item_table=None, **kw):
        states.append(({k: v.detach().clone() for k, v in model.state_dict().items()}, item_table.clone()))
        return types.SimpleNamespace(metrics={"ndcg@10": next(scores)})

    monkeypatch.setattr(train_mod, "evaluate_recformer", scripted)
    res = finetune(model, tokenizer, items, dataset, loo.train, loo.history("valid"), SEQ_PROTOCOL,
                   RecformerTrainConfig(lr=3e-3, batch_size=16, warmup_steps=0, max_steps_per_epoch=1),
                   make_accelerator("cpu"), stage1_epochs=3, stage2_epochs=2, patience=(9, 9), progress=False, seed=0)
    assert (res.best_stage, res.best_epoch, res.best_valid) == (1, 2, 0.6)
    best_state, best_table = states[1]
    assert all(torch.equal(v, best_state[k]) for k, v in model.state_dict().items())
    assert torch.equal(res.item_table, best_table)


def test_evaluation_keeps_history_by_default_and_masks_it_on_request(tokenizer):
    dataset, model, items, loo = _setup(tokenizer)
    table = encode_items(model, tokenizer, items)
    both = evaluate_recformer(model, tokenizer, items, dataset, "test", loo.history("test"), SEQ_PROTOCOL,
                              item_table=table, both=True)
    # masking removes competitors, so every user's target rank can only improve
    assert both["masked"].metrics["mrr"] >= both["recformer"].metrics["mrr"]
    plain = evaluate_recformer(model, tokenizer, items, dataset, "test", loo.history("test"), SEQ_PROTOCOL, item_table=table)
    assert plain.metrics == both["recformer"].metrics


def test_evaluation_ranks_by_cosine_so_item_norms_do_not_matter(tokenizer):
    dataset, model, items, loo = _setup(tokenizer)
    # a spread-out table (the untrained encoder's item vectors are nearly tied, so rounding alone reorders them)
    table = torch.randn(encode_items(model, tokenizer, items).shape, generator=torch.Generator().manual_seed(1))
    scales = torch.logspace(-2, 2, len(table))[torch.randperm(len(table), generator=torch.Generator().manual_seed(0))]
    args = (model, tokenizer, items, dataset, "test", loo.history("test"), SEQ_PROTOCOL)
    plain = evaluate_recformer(*args, item_table=table).metrics
    rescaled = evaluate_recformer(*args, item_table=table * scales[:, None]).metrics
    assert rescaled == pytest.approx(plain, abs=1e-6)
    # the rescaling is large enough that a dot-product ranking would move
    users = torch.nn.functional.normalize(torch.randn(8, table.shape[1]), dim=-1)
    assert not torch.equal((users @ table.T).argsort(dim=1), (users @ (table * scales[:, None]).T).argsort(dim=1))


def _interrupt_call(monkeypatch, module, name: str, original, on_call: int | None) -> None:
    """Replace ``module.name`` by ``original`` that raises KeyboardInterrupt on its ``on_call``-th call."""
    calls = [0]

    def counting(*args, **kwargs):
        calls[0] += 1
        if calls[0] == on_call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)


def test_finetuning_killed_in_stage_two_resumes_to_the_uninterrupted_numbers(tokenizer, tmp_path, monkeypatch):
    import lmrec.recformer.train as rt
    from lmrec.utils import use_deterministic_kernels

    use_deterministic_kernels(True)
    evaluate = rt.evaluate_recformer

    def run(ckpt=None, fail_on_call=None):
        dataset, model, items, loo = _setup(tokenizer)
        torch.manual_seed(0)
        _interrupt_call(monkeypatch, rt, "evaluate_recformer", evaluate, fail_on_call)
        res = finetune(model, tokenizer, items, dataset, loo.train, loo.history("valid"), SEQ_PROTOCOL,
                       RecformerTrainConfig(max_steps_per_epoch=None, lr=3e-3, batch_size=16, warmup_steps=0), make_accelerator("cpu"),
                       stage1_epochs=3, stage2_epochs=3, progress=False, seed=0, checkpoint_dir=ckpt)
        return res, [h["loss"] for h in res.history], torch.cat([p.detach().flatten() for p in model.parameters()])

    ref, ref_losses, ref_words = run()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, fail_on_call=5)  # stage 1 validated 3 times; killed at stage 2's second validation
    res, losses, words = run(tmp_path)
    assert losses == ref_losses and (res.best_stage, res.best_epoch) == (ref.best_stage, ref.best_epoch)
    assert torch.equal(words, ref_words) and torch.equal(res.item_table, ref.item_table)


def test_pretraining_interrupted_resumes_to_the_uninterrupted_steps(tokenizer, tmp_path, monkeypatch):
    import lmrec.recformer.train as rt
    from lmrec.utils import use_deterministic_kernels

    use_deterministic_kernels(True)
    pairs = rt.pretrain_pairs

    def run(ckpt=None, fail_on_call=None):
        dataset, model, items, loo = _setup(tokenizer)
        torch.manual_seed(0)
        _interrupt_call(monkeypatch, rt, "pretrain_pairs", pairs, fail_on_call)
        hist = pretrain(model, tokenizer, items, loo.train, RecformerTrainConfig(max_steps_per_epoch=None, lr=3e-3, batch_size=16, warmup_steps=0),
                        make_accelerator("cpu"), epochs=3, seed=0, progress=False, checkpoint_dir=ckpt)
        return hist, torch.cat([p.detach().flatten() for p in model.parameters()])

    ref, ref_weights = run()
    per_epoch = len(ref) // 3
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, fail_on_call=2 * per_epoch + 1)  # in the third epoch
    hist, weights = run(tmp_path)
    assert [h["loss"] for h in hist] == [h["loss"] for h in ref] and torch.equal(weights, ref_weights)
