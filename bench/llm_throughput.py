"""LLM throughput on this machine: the local backend (profiles/s, tokens/s, tokens per CPU-second) and the
openai backend's request throughput at 1, 4 and 16 requests in flight against a local ``transformers serve``.

    OMP_NUM_THREADS=2 python bench/llm_throughput.py --items 64 --out bench/results/llm_throughput.md

No response cache is used (every request is a real call). Machine facts and the load average are recorded,
because on a shared CPU the wall-clock numbers depend on what else runs; tokens per CPU-second do much less.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from lmrec.run.context import machine_summary


def bench_local(n_items: int, batch_sizes: list[int], dtypes: list[str], max_new_tokens: int) -> list[dict]:
    from lmrec.data import load_dataset
    from lmrec.llm.chat import LocalChat
    from lmrec.llm.profiles import ProfileConfig, profile_items

    ds = load_dataset("ml100k", "rlmrec", 2023, min_rating=4)
    rows = []
    for dtype in dtypes:
        backend = LocalChat(dtype=getattr(torch, dtype))
        for bs in batch_sizes:
            backend.batch_size = bs
            cfg = ProfileConfig(n_items=n_items, max_new_tokens=max_new_tokens)
            t0, c0 = time.perf_counter(), time.process_time()
            run = profile_items(backend, ds, cfg, cache=None, progress=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            s = run.stats
            rows.append({"dtype": dtype, "batch": bs, "profiles": n_items, "calls": s.calls,
                         "failures": len(run.failures), "completion_tokens": s.completion_tokens,
                         "prompt_tokens": s.prompt_tokens, "wall_s": wall, "cpu_s": cpu,
                         "profiles_per_s": n_items / wall, "tok_per_s": s.completion_tokens / wall,
                         "tok_per_cpu_s": s.completion_tokens / cpu, "load": os.getloadavg()[0]})
            print(rows[-1], flush=True)
    return rows


def bench_openai(levels: list[int], n_requests: int, max_tokens: int) -> list[dict]:
    from lmrec.llm.chat import ChatRequest, GenParams, OpenAIChat, run_chat
    from lmrec.llm.hf import smollm2_folder
    from lmrec.llm.serve import start_transformers_serve

    folder = str(smollm2_folder())
    proc, port = start_transformers_serve(folder, threads=int(os.environ.get("OMP_NUM_THREADS", "1")))
    rows = []
    try:
        for level in levels:
            backend = OpenAIChat(folder, base_url=f"http://127.0.0.1:{port}/v1", api_key="local",
                                 concurrency=level, timeout=600)
            reqs = [ChatRequest([{"role": "user", "content": f"Name a movie genre ({level}-{i})."}])
                    for i in range(n_requests)]
            run = run_chat(backend, reqs, GenParams(max_new_tokens=max_tokens), cache=None, progress=False)
            s = run.stats
            rows.append({"in_flight": level, "requests": n_requests, "failures": s.failures, "wall_s": s.wall_s,
                         "req_per_s": n_requests / s.wall_s, "tok_per_s": s.completion_tokens / s.wall_s,
                         "load": os.getloadavg()[0]})
            print(rows[-1], flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows


def table(rows: list[dict]) -> str:
    if not rows:
        return "(not run)\n"
    cols = list(rows[0])
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=64, help="item profiles per local configuration")
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--dtype", nargs="+", default=["bfloat16", "float32"])
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--openai-max-tokens", type=int, default=16)
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--skip-openai", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    before = machine_summary()
    local = [] if args.skip_local else bench_local(args.items, args.batch, args.dtype, args.max_new_tokens)
    remote = [] if args.skip_openai else bench_openai(args.levels, args.requests, args.openai_max_tokens)
    text = (f"# LLM throughput ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
            f"Machine at start: {before}\nMachine at end: {machine_summary()}\n\n"
            f"## Local backend: SmolLM2-135M-Instruct item profiles (ML-100K, max_new_tokens={args.max_new_tokens}, "
            f"continuation/repair calls included)\n\n{table(local)}\n"
            f"## openai backend against `transformers serve` (SmolLM2, {args.requests} requests, "
            f"max_tokens={args.openai_max_tokens})\n\n{table(remote)}")
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
