"""Thread count and OpenMP wait policy of the notebooks' kernels: each workload alone and beside one busy
process, every configuration in a fresh Python process (the OpenMP variables are read when torch loads).

    python bench/kernel_threads.py --rounds 2 --out bench/results/kernel_threads.md

Medians over rounds. Workloads: ``lightgcn`` (6 epochs on ML-100K, the issue's case), ``llm`` (SmolLM2 float32, 16 prompts x 32
new tokens, one batch). Configurations and conditions alternate round by round, so slow drifts of the
shared machine's load hit all of them alike; the load average is recorded beside every number.
The busy process is one single-threaded spin loop in its own session (``setsid``: its own scheduler
autogroup, like another user's job).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CONFIGS: dict[str, dict[str, str]] = {
    "2 threads, default wait": {"OMP_NUM_THREADS": "2"},
    "2 threads, passive wait": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "1 thread": {"OMP_NUM_THREADS": "1"},
}

WORKLOAD = r'''
import json, os, sys, time, torch
kind = sys.argv[1]
if kind == "lightgcn":
    from lmrec.cf.notebook import CFSpec, train_backbone
    from lmrec.data import load_dataset
    from lmrec.defaults import notebook_defaults
    nb11 = notebook_defaults("11_lightgcn")
    ds = load_dataset(nb11["DATASET"], nb11["SPLIT"], seed=nb11["SEED"], min_rating=nb11["MIN_RATING"])
    # notebook 11's defaults, at notebook 20's base model (BASE_DIM, 2 layers in its code); 6 epochs, no validation
    spec = CFSpec.from_notebook("lightgcn", {"EMBED_DIM": notebook_defaults("20_llmrec_augment")["BASE_DIM"], "LAYERS": 2,
                                             "EPOCHS": 6, "EVAL_EVERY": 100}, progress=False)
    t0, c0 = time.perf_counter(), time.process_time()
    train_backbone(spec, device=torch.device("cpu"), dataset=ds)
else:
    from lmrec.llm.chat import ChatRequest, GenParams, LocalChat
    chat = LocalChat(dtype="float32", batch_size=16)
    reqs = [ChatRequest([{"role": "user", "content": f"Describe movie number {i} in one sentence."}])
            for i in range(16)]
    chat.generate(reqs[:2], GenParams(max_new_tokens=4), lambda i, r: None)   # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    chat.generate(reqs, GenParams(max_new_tokens=32), lambda i, r: None)
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "threads": torch.get_num_threads()}))
'''


def measure(kind: str, env: dict[str, str], timeout_s: float) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    full.update(env)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", WORKLOAD, kind], env=full, capture_output=True, text=True,
                             timeout=timeout_s)
    except subprocess.TimeoutExpired:   # recorded as "more than timeout_s" (the process, start-up included)
        return {"wall_s": float("inf"), "cpu_s": float("nan"), "timeout_after_s": time.perf_counter() - t0,
                "load_before": load}
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load_before": load}


def busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workloads", nargs="+", default=["lightgcn", "llm"])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), help="names from CONFIGS")
    ap.add_argument("--extra-env", default="", help="JSON dict of variables added to every configuration")
    ap.add_argument("--timeout-s", type=float, default=600, help="per measured process (start-up included)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    from lmrec.llm.hf import cpu_capability
    from lmrec.run.context import machine_summary

    extra = json.loads(args.extra_env) if args.extra_env else {}
    before = machine_summary()
    rows: list[dict] = []
    for rnd in range(args.rounds):
        for kind in args.workloads:
            for name in args.configs:
                for cond in (("alone", "busy") if rnd % 2 == 0 else ("busy", "alone")):
                    proc = busy() if cond == "busy" else None
                    try:
                        if proc:
                            time.sleep(1.0)
                        r = measure(kind, {**CONFIGS[name], **extra}, args.timeout_s)
                    finally:
                        if proc:
                            proc.kill()
                            proc.wait()
                    rows.append({"round": rnd, "workload": kind, "config": name, "condition": cond, **r})
                    print(json.dumps(rows[-1]), flush=True)
    lines = [f"# Kernel threads ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Machine at start: {before}", f"Machine at end: {machine_summary()}",
             f"CPU capability: {cpu_capability()}; extra env: {extra or 'none'}", "",
             "| workload | configuration | alone wall s | beside busy wall s | slowdown | alone CPU s | "
             "beside busy CPU s | loads before runs |", "|---|---|---|---|---|---|---|---|"]
    for kind in args.workloads:
        for name in args.configs:
            sel = [r for r in rows if r["workload"] == kind and r["config"] == name]
            a = statistics.median(r["wall_s"] for r in sel if r["condition"] == "alone")
            b = statistics.median(r["wall_s"] for r in sel if r["condition"] == "busy")
            ca = statistics.median(r["cpu_s"] for r in sel if r["condition"] == "alone")
            cb = statistics.median(r["cpu_s"] for r in sel if r["condition"] == "busy")
            loads = ", ".join(f"{r['load_before']:.1f}" for r in sel)
            lines.append(f"| {kind} | {name} | {a:.2f} | {b:.2f} | {b / a:.1f}x | {ca:.2f} | {cb:.2f} | {loads} |")
    lines += ["", "Raw rows:", "", "```", *[json.dumps(r) for r in rows], "```", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
