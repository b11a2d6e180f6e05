"""CPU cost of notebook 20's label scoring (:class:`LabelScoreChat`): before and after prefix sharing.

The LLM pack scores every ML-100K user's 10 base candidates in 5 rotations (notebook 20's parameters under params/default + params/pack: PAIR_ORDERS 5,
LLM_BATCH_SIZE 32, float32, SmolLM2-135M-Instruct); a user's 5 prompts differ only from the candidate list on.
On a seeded sample of users (notebook 20's data, base LightGCN candidates, prompt history) this scores the same
prompts, fed in generate_chat's chunks of 64 requests, with

* ``old``: the scoring before (whole prompts, the LM head at every position);
* ``keep1``: whole prompts, ``logits_to_keep=1`` (``LabelScoreChat(share_prefix=False)``);
* ``shared``: ``logits_to_keep=1`` and each group's common prefix run once per batch (the default);

after an untimed warm-up batch of each, alternating the variants in one process (ABC then CBA), and reports CPU-seconds (``time.process_time``), the max
|score difference| from ``old`` and how many answer texts (``format_scores``, what the cache stores) are equal; and,
for scale, the same for ``old`` run once at ``--noise-batch`` (the batch composition alone moves float32 scores).

    OMP_NUM_THREADS=1 python bench/llmrec_label_scoring.py --users 16 --out bench/results/llmrec_label_scoring.txt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from lmrec.cf.notebook import CFSpec, train_backbone
from lmrec.data import load_dataset
from lmrec.defaults import notebook_defaults
from lmrec.llm.chat import ChatRequest
from lmrec.llmrec.augment import base_candidates
from lmrec.llmrec.choice import LabelScoreChat, candidate_orders, format_scores
from lmrec.llmrec.pipeline import AugmentSpec, make_chat
from lmrec.llmrec.prompts import history_items, implicit_feedback_prompt
from lmrec.pack import pack_params, planned_params
from lmrec.run.context import machine_summary
from lmrec.utils import seed_everything

REPO = Path(__file__).resolve().parents[1]
NB20 = notebook_defaults("20_llmrec_augment")
PACK = planned_params(pack_params())["20_llmrec_augment"]   # notebook 20's values when the pack is made


@torch.inference_mode()
def old_scores(backend: LabelScoreChat, requests: list[ChatRequest]) -> dict[int, torch.Tensor]:
    """The scoring before prefix sharing (lmrec 8ddc192): length-sorted batches of whole prompts, logits at
    every position, the last one read."""
    chat = backend.chat
    tok, lm = chat.tokenizer, chat.lm
    ids = tok([chat.prompt_text(r) for r in requests], add_special_tokens=False)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = {}
    for start in range(0, len(order), chat.batch_size):
        idx = order[start:start + chat.batch_size]
        batch = tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
        mask = batch["attention_mask"].to(chat.device)
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        logits = lm(input_ids=batch["input_ids"].to(chat.device), attention_mask=mask, position_ids=pos).logits[:, -1, :]
        scores = torch.log_softmax(logits[:, backend.label_ids.to(logits.device)].float(), dim=-1).cpu()
        out.update({i: scores[row] for row, i in enumerate(idx)})
    return out


def new_scores(backend: LabelScoreChat, requests: list[ChatRequest]) -> dict[int, torch.Tensor]:
    out = {}
    for i, _, s in backend.iter_scores(requests):
        if isinstance(s, Exception):
            raise s
        out[i] = s
    return out


def parser() -> argparse.ArgumentParser:
    """The command line; rotations, batch and dtype default to the LLM pack's (:func:`lmrec.pack.planned_params`)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--orders", type=int, default=PACK["PAIR_ORDERS"])
    ap.add_argument("--batch-size", type=int, default=PACK["LLM_BATCH_SIZE"])
    ap.add_argument("--dtype", default=PACK["LLM_DTYPE"])
    ap.add_argument("--chunk", type=int, default=64, help="requests per backend call (generate_chat's chunk_size)")
    ap.add_argument("--rounds", type=int, default=2, help="ABC, CBA, ... alternations")
    ap.add_argument("--noise-batch", type=int, default=NB20["LLM_BATCH_SIZE"],
                    help="also score with the old code at this batch size (notebook 20's default; 0: skip)")
    ap.add_argument("--base-epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--out", default=None, help="also write the report here")
    return ap


def main() -> None:
    args = parser().parse_args()
    seed_everything(args.seed)
    before = machine_summary("cpu")
    ds = load_dataset(NB20["DATASET"], NB20["SPLIT"], seed=args.seed, min_rating=NB20["MIN_RATING"])
    base = train_backbone(CFSpec.from_notebook("lightgcn", {"EMBED_DIM": NB20["BASE_DIM"], "LAYERS": 2, "SEED": args.seed,
                                                            "KS": [10, 20, 50], "EPOCHS": args.base_epochs},
                                               progress=False), dataset=ds)
    users = np.sort(np.random.default_rng(args.seed).choice(ds.n_users, args.users, replace=False))
    cands = base_candidates(base.model.scorer(), ds.train, NB20["N_CANDIDATES"], users)
    seqs = ds.sequences("train")
    prompts = [implicit_feedback_prompt(ds.item_text, history_items(seqs[u], PACK["MAX_HISTORY"]), order)
               for j, u in enumerate(users) for order in candidate_orders(cands[j], args.orders)]
    requests = [ChatRequest(messages=[{"role": "user", "content": p.text}], prefill=p.prefill, id=str(i))
                for i, p in enumerate(prompts)]  # as generate_structured asks a prefill-capable backend
    chat = make_chat(AugmentSpec(seed=args.seed, llm_batch_size=args.batch_size, llm_dtype=args.dtype))
    labels = [str(j) for j in range(NB20["N_CANDIDATES"])]
    variants = {"old": (LabelScoreChat(chat, labels), old_scores),
                "keep1": (LabelScoreChat(chat, labels, share_prefix=False), new_scores),
                "shared": (LabelScoreChat(chat, labels), new_scores)}
    n_tokens = sum(len(x) for x in chat.tokenizer([chat.prompt_text(r) for r in requests],
                                                  add_special_tokens=False)["input_ids"])
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    wall: dict[str, list[float]] = {v: [] for v in variants}
    got: dict[str, dict[int, torch.Tensor]] = {}
    names = list(variants)
    loads = [Path("/proc/loadavg").read_text().split()[:3]]
    for backend, fn in variants.values():  # warm-up, untimed: first calls allocate and pick kernels
        fn(backend, requests[:args.batch_size])
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            backend, fn = variants[name]
            c0, t0 = time.process_time(), time.perf_counter()
            res: dict[int, torch.Tensor] = {}
            for start in range(0, len(requests), args.chunk):
                part = fn(backend, requests[start:start + args.chunk])
                res.update({start + i: s for i, s in part.items()})
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - t0)
            got.setdefault(name, res)
            print(f"round {r} {name}: {cpu[name][-1]:.1f} CPU-s, {wall[name][-1]:.1f} s", flush=True)
    if args.noise_batch:  # how far the scoring before already moved with the batch it was run in
        chat.batch_size = args.noise_batch
        res = {}
        for start in range(0, len(requests), args.chunk):
            res.update({start + i: s for i, s in old_scores(variants["old"][0], requests[start:start + args.chunk]).items()})
        chat.batch_size = args.batch_size
        got[f"old, batch {args.noise_batch}"] = res
    loads.append(Path("/proc/loadavg").read_text().split()[:3])
    ref = torch.stack([got["old"][i] for i in range(len(requests))])
    ref_text = [format_scores(s.tolist()) for s in ref]
    lines = [f"{len(users)} users x {args.orders} rotations = {len(requests)} prompts ({n_tokens} tokens, "
             f"{n_tokens / len(requests):.0f} a prompt), batch {args.batch_size}, chunks of {args.chunk}, "
             f"{chat.model} {chat.dtype}, torch threads {torch.get_num_threads()}, {args.rounds} rounds alternating",
             "", "| variant | CPU-s per round | mean CPU-s | prompts / CPU-s | old / variant | max abs score diff "
             "| texts equal |", "|---|---|---|---|---|---|---|"]
    for name in got:
        s = torch.stack([got[name][i] for i in range(len(requests))])
        text = [format_scores(v.tolist()) for v in s]
        if name in cpu:
            mean = float(np.mean(cpu[name]))
            timing = (f"{', '.join(f'{c:.1f}' for c in cpu[name])} | {mean:.1f} | {len(requests) / mean:.2f} | "
                      f"{np.mean(cpu['old']) / mean:.2f}x")
        else:
            timing = "(once, not timed) | | |"
        lines.append(f"| {name} | {timing} | "
                     f"{float((s - ref).abs().max()):.2e} | {sum(a == b for a, b in zip(text, ref_text))}"
                     f"/{len(text)} |")
    lines += ["", f"load average (1/5/15 min) at start {' / '.join(loads[0])}, at end {' / '.join(loads[1])}",
              f"machine: {before}"]
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")


if __name__ == "__main__":
    main()
