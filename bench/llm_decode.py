"""The local backend's decoding loop against Hugging Face ``generate``, on the LLM pack's item-profile batches.

    python bench/llm_decode.py --items 64 --threads 1 2 --spread --out bench/results/llm_decode.json

Builds the RLMRec item-profile requests of notebook 01 as the pack makes them (its run under params/default +
params/pack, read by :func:`pack_profiles`: word limits, new tokens, batches, the JSON schema, dtype), in the pack's order:
the first ``--items`` items, chunks of 64 requests (generate_chat's chunk), sorted by prompt length inside a chunk
and cut into batches of 32 (LocalChat.generate's batching). Each batch is decoded greedily by both loops
(``LocalChat._generate_torch`` with ``_hf_generate`` True: Hugging Face ``generate``; False:
:func:`lmrec.llm.decode.generate_shrinking`), in alternating order, at each thread count, in this one process;
the wall and CPU seconds, the load average and whether every row's tokens (up to the first stop token) are equal
are recorded per batch, with where the first difference of a differing row is. With ``--spread`` batch b runs
at the (b mod k)-th of the k thread counts only.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch


def pack_profiles() -> dict:
    """The values notebook 01 runs with when the pack is made (params/default + params/pack over its cell)."""
    from lmrec.pack import pack_params, planned_params

    return planned_params(pack_params())["01_profiles"]


def item_batches(n_items: int, batch_size: int, chunk: int = 64) -> tuple[list[list[list[int]]], object, object]:
    """Token ids of the pack's first ``n_items`` item prompts, batched as generate_chat + LocalChat.generate do."""
    from lmrec.data import load_dataset
    from lmrec.llm.chat import GenParams, LocalChat
    from lmrec.rlmrec.profiles import ProfileConfig, answer_schema, item_requests

    p = pack_profiles()
    cfg = ProfileConfig(family=p["FAMILY"], item_summary_words=p["ITEM_SUMMARY_WORDS"],
                        item_reasoning_words=p["ITEM_REASONING_WORDS"], user_summary_words=p["USER_SUMMARY_WORDS"],
                        user_reasoning_words=p["USER_REASONING_WORDS"], max_user_items=p["MAX_USER_ITEMS"],
                        desc_words=p["DESC_WORDS"], prefill=p["PREFILL"], max_new_tokens=p["MAX_NEW_TOKENS"],
                        max_repairs=p["MAX_REPAIRS"], n_items=p["N_ITEMS"], n_users=p["N_USERS"],
                        constrain=p["CONSTRAIN"])
    ds = load_dataset(p["DATASET"], p["SPLIT"], p["SEED"], min_rating=p["MIN_RATING"])
    reqs = item_requests(ds, list(range(min(n_items, ds.n_items))), cfg)
    backend = LocalChat(p["MODEL"], dtype=p["DTYPE"], batch_size=batch_size, engine=p["ENGINE"])
    gen = GenParams(max_new_tokens=cfg.max_new_tokens, json_mode=True, json_schema=answer_schema("item", cfg))
    batches = []
    for start in range(0, len(reqs), chunk):
        part = reqs[start:start + chunk]
        texts = [backend.prompt_text(r.__class__(messages=r.messages)) for r in part]  # constrained: no prefill
        ids = backend.tokenizer(texts, add_special_tokens=False)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        batches += [[ids[i] for i in order[b:b + batch_size]] for b in range(0, len(order), batch_size)]
    return batches, backend, gen


def cut(tokens: list[int], stops: set[int]) -> list[int]:
    """Tokens up to and including the first stop token."""
    n = next((j for j, t in enumerate(tokens) if t in stops), len(tokens))
    return tokens[:n + 1]


def command(args: argparse.Namespace) -> str:
    """The command line that gives ``args``."""
    def arg(k: str, v: object) -> str:
        flag = "--" + k.replace("_", "-")
        return flag if v is True else f"{flag} {' '.join(map(str, v)) if isinstance(v, list) else v}"

    return "python bench/llm_decode.py " + " ".join(arg(k, v) for k, v in vars(args).items() if v)


def parser() -> argparse.ArgumentParser:
    """The command line; ``--batch`` defaults to the pack's batch size."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--batch", type=int, default=pack_profiles()["BATCH_SIZE"])
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--spread", action="store_true",
                    help="batch b runs at the b-th thread count only (round robin): more prompts for the same time")
    ap.add_argument("--out", default="")
    return ap


def main() -> None:
    args = parser().parse_args()
    import lmrec.llm.constrain  # noqa: F401  imported now: later edits of the files cannot reach this run
    import lmrec.llm.decode  # noqa: F401
    batches, backend, gen = item_batches(args.items, args.batch)
    stops = backend._stop_ids()
    rows = []
    for t, threads in enumerate(args.threads):
        torch.set_num_threads(threads)
        for b, ids in enumerate(batches):
            if args.spread and b % len(args.threads) != t:
                continue
            res = {}
            order = ("hf", "shrinking") if b % 2 == 0 else ("shrinking", "hf")
            for loop in order:
                backend._hf_generate = loop == "hf"
                load = os.getloadavg()[0]
                t0, c0 = time.perf_counter(), time.process_time()
                toks = backend._generate_torch(ids, gen, gen.seed)
                res[loop] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "load": load,
                             "tokens": [cut(t, stops) for t in toks]}
            ref, new = res["hf"]["tokens"], res["shrinking"]["tokens"]
            diffs = []
            for r, (a, c) in enumerate(zip(ref, new)):
                if a != c:
                    at = next((j for j, (x, y) in enumerate(zip(a, c)) if x != y), min(len(a), len(c)))
                    diffs.append({"row": r, "first_diff": at, "len_hf": len(a), "len_new": len(c)})
            lens = [len(t) for t in ref]
            row = {"threads": threads, "batch": b, "rows": len(ids), "prompt_len": max(map(len, ids)),
                   "new_tokens_mean": sum(lens) / len(lens), "new_tokens_max": max(lens),
                   "hf_wall_s": res["hf"]["wall_s"], "new_wall_s": res["shrinking"]["wall_s"],
                   "hf_cpu_s": res["hf"]["cpu_s"], "new_cpu_s": res["shrinking"]["cpu_s"],
                   "wall_ratio": res["hf"]["wall_s"] / res["shrinking"]["wall_s"],
                   "cpu_ratio": res["hf"]["cpu_s"] / res["shrinking"]["cpu_s"],
                   "load_hf": res["hf"]["load"], "load_new": res["shrinking"]["load"], "order": list(order),
                   "equal_rows": len(ids) - len(diffs), "diffs": diffs}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps({"command": command(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
