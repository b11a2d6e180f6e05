"""LLM throughput on this machine: the local backend per engine and dtype (profiles/s, tokens/s, tokens per
CPU-second, parse failures) at the main job's shapes, and the openai backend's request throughput at 1, 4
and 16 requests in flight against a local ``transformers serve``.

    python bench/llm_throughput.py --items 64 --users 32 --engine transformers ctranslate2 --skip-openai \
        --out bench/results/llm_throughput.md

Each local configuration profiles the same first ``--items`` items, then the first ``--users`` users (RLMRec
prompts; data, word limits, new tokens, repairs, batch, dtype and engine default to notebook 01's run in the main
job, :func:`main_job_profiles`, read from params/default over its parameters cell), in this one process, configurations
alternating over ``--rounds``; no response cache (every request is a real call). The CPU capability
(torch's dispatch level, native bf16 or not) is recorded with the machine and its load average, because
on a shared CPU the wall-clock numbers depend on what else runs; tokens per CPU-second do much less.
To emulate an AVX2-only CPU on a newer one: ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
MKL_ENABLE_INSTRUCTIONS=AVX2 CT2_FORCE_CPU_ISA=AVX2`` (an emulation: same caches and clock, other instructions).
"""

from __future__ import annotations

import argparse
import os
import time

from lmrec.llm.hf import cpu_capability
from lmrec.paths import params_dir
from lmrec.run.context import machine_summary
from lmrec.run.plan import build_plan, load_params

WORDS = ("ITEM_SUMMARY_WORDS", "ITEM_REASONING_WORDS", "USER_SUMMARY_WORDS", "USER_REASONING_WORDS")


def main_job_profiles() -> dict:
    """The values notebook 01 runs with in the main job (params/default over its parameters cell)."""
    return build_plan(["01_profiles"], load_params([params_dir() / "default"]))[0].values


def local_configs(engines: list[str], dtypes: list[str], batch_sizes: list[int]) -> list[dict]:
    """(engine, dtype or quantization, batch) combinations; ctranslate2 takes its quantization for dtype."""
    out = []
    for engine in engines:
        for dt in dtypes if engine == "transformers" else ["int8"]:
            for bs in batch_sizes:
                out.append({"engine": engine, "dtype": dt, "batch": bs})
    return out


def bench_local(n_items: int, n_users: int, configs: list[dict], max_new_tokens: int, rounds: int = 1,
                max_repairs: int = 1, constrain: bool = True, words: tuple[int, int, int, int] | None = None
                ) -> list[dict]:
    from lmrec.data import load_dataset
    from lmrec.llm.chat import GenParams, LocalChat
    from lmrec.rlmrec.profiles import ProfileConfig, profile_items, profile_users

    job = main_job_profiles()
    words = words or tuple(job[w] for w in WORDS)
    ds = load_dataset(job["DATASET"], job["SPLIT"], job["SEED"], min_rating=job["MIN_RATING"])
    backends = {}
    for c in configs:
        key = (c["engine"], c["dtype"])
        if key not in backends:
            kw = {"quantization": c["dtype"]} if c["engine"] == "ctranslate2" else {"dtype": c["dtype"]}
            backends[key] = LocalChat(engine=c["engine"], **kw)
    cap = cpu_capability()
    rows = []
    for rnd in range(rounds):
        for c in (configs if rnd % 2 == 0 else configs[::-1]):
            backend = backends[(c["engine"], c["dtype"])]
            backend.batch_size = c["batch"]
            cfg = ProfileConfig(family=job["FAMILY"], n_items=n_items, n_users=n_users, max_new_tokens=max_new_tokens,
                                max_repairs=max_repairs, constrain=constrain, item_summary_words=words[0],
                                item_reasoning_words=words[1], user_summary_words=words[2],
                                user_reasoning_words=words[3], max_user_items=job["MAX_USER_ITEMS"],
                                desc_words=job["DESC_WORDS"], prefill=job["PREFILL"])
            for stage in ("items", "users") if n_users else ("items",):
                load = os.getloadavg()[0]
                t0, c0 = time.perf_counter(), time.process_time()
                if stage == "items":
                    run = profile_items(backend, ds, cfg, cache=None, progress=False)
                    item_profiles = run.profiles
                else:
                    run = profile_users(backend, ds, item_profiles, cfg, cache=None, progress=False)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                s, n = run.stats, len(run.requests)
                dtype = c["dtype"] if c["engine"] != "transformers" else str(backend.dtype).removeprefix("torch.")
                rows.append({"round": rnd, "stage": stage, "engine": c["engine"], "dtype": dtype,
                             "constrained": backend.constrains(GenParams(json_schema={})) and constrain,
                             "batch": c["batch"], "cpu_capability": cap["torch"] + (" bf16" if cap["bf16_native"] else ""),
                             "threads": backend_threads(), "profiles": n, "calls": s.calls,
                             "failures": len(run.failures), "failure_rate": len(run.failures) / max(1, n),
                             "completion_tokens": s.completion_tokens, "prompt_tokens": s.prompt_tokens,
                             "wall_s": wall, "cpu_s": cpu, "s_per_profile": wall / max(1, n),
                             "profiles_per_s": n / wall, "tok_per_s": s.completion_tokens / wall,
                             "tok_per_cpu_s": s.completion_tokens / max(cpu, 1e-9), "load": load})
                print(rows[-1], flush=True)
    return rows


def backend_threads() -> int:
    import torch

    return torch.get_num_threads()


def bench_openai(levels: list[int], n_requests: int, max_tokens: int) -> list[dict]:
    from lmrec.llm.chat import ChatRequest, GenParams, OpenAIChat, generate_chat
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
            run = generate_chat(backend, reqs, GenParams(max_new_tokens=max_tokens), cache=None, progress=False)
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


def parser() -> argparse.ArgumentParser:
    """The command line; the local backend's settings default to the main job's (:func:`main_job_profiles`)."""
    job = main_job_profiles()
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=64, help="item profiles per local configuration")
    ap.add_argument("--users", type=int, default=0, help="user profiles per local configuration (after the items)")
    ap.add_argument("--batch", type=int, nargs="+", default=[job["BATCH_SIZE"]])
    ap.add_argument("--dtype", nargs="+", default=[job["DTYPE"]], help="transformers dtypes: auto | float32 | bfloat16")
    ap.add_argument("--engine", nargs="+", default=[job["ENGINE"]], help="transformers | ctranslate2 (int8)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the configurations, alternating their order")
    ap.add_argument("--max-new-tokens", type=int, default=job["MAX_NEW_TOKENS"])
    ap.add_argument("--max-repairs", type=int, default=job["MAX_REPAIRS"])
    ap.add_argument("--no-constrain", action="store_true", default=not job["CONSTRAIN"],
                    help="decode without the JSON schema")
    ap.add_argument("--words", type=int, nargs=4, default=[job[w] for w in WORDS],
                    help="word limits: item summary, item reasoning, user summary, user reasoning")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--openai-max-tokens", type=int, default=16)
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--skip-openai", action="store_true")
    ap.add_argument("--out", default="")
    return ap


def main() -> None:
    args = parser().parse_args()
    before = machine_summary()
    configs = local_configs(args.engine, args.dtype, args.batch)
    local = [] if args.skip_local else bench_local(args.items, args.users, configs, args.max_new_tokens,
                                                   args.rounds, args.max_repairs, not args.no_constrain,
                                                   tuple(args.words))
    remote = [] if args.skip_openai else bench_openai(args.levels, args.requests, args.openai_max_tokens)
    emulated = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "CT2_FORCE_CPU_ISA")
                if k in os.environ}
    text = (f"# LLM throughput ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
            f"Machine at start: {before}\nMachine at end: {machine_summary()}\n"
            f"CPU capability: {cpu_capability()}; emulation variables: {emulated or 'none'}\n\n"
            f"## Local backend: SmolLM2-135M-Instruct profiles (ML-100K, max_new_tokens={args.max_new_tokens}, "
            f"max_repairs={args.max_repairs}, word limits {args.words}, schema constraint "
            f"{'off' if args.no_constrain else 'on where the engine can'}, continuation/repair calls included)\n\n{table(local)}\n"
            f"## openai backend against `transformers serve` (SmolLM2, {args.requests} requests, "
            f"max_tokens={args.openai_max_tokens})\n\n{table(remote)}")
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
