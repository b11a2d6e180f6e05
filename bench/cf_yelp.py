"""Graph CF on RLMRec's own Yelp split (../shared/data/rlmrec_yelp) with RLMRec's yelp hyperparameters.

1. Seconds per training epoch of every backbone (plain), estimated from timed batches of 4096 after a
   warm-up batch (wall and process CPU time; OMP_NUM_THREADS=1).
2. As much of a plain LightGCN / SimGCL run as fits a time cap: early stopping on validation Recall@20,
   best state restored, test once. RLMRec's own code reached SimGCL test Recall@20 0.1256 / NDCG@20 0.0794.

3. ``--compare REF``: seconds per epoch of this checkout's CF core against the one of git revision ``REF``,
   in the same process, back to back (old, new, old, new, ...), per backbone and per torch thread count;
   the ratio old/new is what survives a shared, loaded machine. ``REF``'s ``lib/lmrec`` is extracted with
   ``git archive`` into a temporary folder and imported as ``lmrec_ref``.

Usage: OMP_NUM_THREADS=1 python bench/cf_yelp.py [--data ../shared/data/rlmrec_yelp] [--batches 4]
       [--train lightgcn:300,simgcl:120@0.005]   (backbone:seconds of training[@lr])
       python bench/cf_yelp.py --compare d877505 --threads 1,2 --batches 3 --reps 2 --train ""
       python bench/cf_yelp.py --compare d877505 --ml100k none   (ML-100K metrics, old vs new, no timing)
Writes a markdown block to stdout; the recorded results are in bench/results/cf_yelp.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from lmrec.cf.backbone import Batch
from lmrec.cf.notebook import CFSpec, build_model, train_backbone
from lmrec.cf.registry import BACKBONES, NOTEBOOKS
from lmrec.data import load_dataset
from lmrec.paths import REPO_ROOT
from lmrec.rlmrec.embeddings import profile_targets
from lmrec.run.context import machine_summary
from lmrec.run.plan import load_params
from lmrec.train.sampling import NegativeSampler


def yelp_spec(backbone: str, alignment: str = "none", data: str | None = None) -> CFSpec:
    """The run of ``backbone``'s notebook under ``params/rlmrec_yelp`` (RLMRec's yelp values: the set's notebook
    values and its ``ALIGNMENT`` row over the notebook's defaults, nothing restated here); ``data``: another
    folder in RLMRec's format instead of the set's ``DATASET``."""
    nb, params = NOTEBOOKS[backbone], load_params([REPO_ROOT / "params/rlmrec_yelp"])
    rows = [row for row in params["grid"][nb] if row.get("ALIGNMENT") == alignment]
    if len(rows) != 1:
        raise SystemExit(f"params/rlmrec_yelp: expected one ALIGNMENT {alignment} row for {nb}, found {len(rows)}")
    values = params.get("globals", {}) | params["notebooks"][nb] | rows[0]
    return CFSpec.from_notebook(backbone, values | ({"DATASET": f"rlmrec:{data}"} if data else {}), progress=False)


def seconds_per_epoch(spec: CFSpec, dataset, n_batches: int, lib=None) -> tuple[float, float]:
    """(wall, process CPU) seconds per epoch from ``n_batches`` timed batches after a warm-up batch; ``lib``:
    the ``lmrec`` package whose CF core runs (default: this checkout)."""
    mk, batch_cls, sampler_cls = ((build_model, Batch, NegativeSampler) if lib is None else
                                  (lib.cf.notebook.build_model, lib.cf.backbone.Batch, lib.cf.trainer.NegativeSampler))
    torch.manual_seed(2023)
    model = build_model(spec, dataset, targets=profile_targets(spec, dataset)) if lib is None else mk(spec, dataset)
    g = model.backbone.graph
    sampler = sampler_cls(g.train_users, g.train_items, g.n_items)
    opt = torch.optim.Adam(model.parameters(), lr=spec.train.lr)
    bs = spec.train.batch_size
    model.backbone.on_epoch_start(0)
    perm = torch.randperm(g.n_train)
    wall = cpu = 0.0
    for step in range(n_batches + 1):
        idx = perm[step * bs:(step + 1) * bs]
        t0, c0 = time.perf_counter(), time.process_time()
        u = g.train_users[idx]
        b = batch_cls(u, g.train_items[idx], sampler.sample(u), step=step)
        model.backbone.on_step_start(b)
        opt.zero_grad()
        loss, _ = model.loss(b)
        loss.backward()
        opt.step()
        if step:  # the first batch is a warm-up
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
    per_epoch = -(-g.n_train // bs)
    return wall / n_batches * per_epoch, cpu / n_batches * per_epoch


def load_reference(rev: str):
    """The ``lmrec`` package of git revision ``rev``, imported as ``lmrec_ref`` from a temporary copy."""
    tmp = Path(tempfile.mkdtemp(prefix="lmrec_ref_"))
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", rev, "lib/lmrec"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    (tmp / "lib/lmrec").rename(tmp / "lmrec_ref")
    registry = tmp / "lmrec_ref/cf/registry.py"  # its backbone table names modules absolutely
    registry.write_text(registry.read_text().replace('"lmrec.cf.', '"lmrec_ref.cf.'))
    sys.path.insert(0, str(tmp))
    lib = importlib.import_module("lmrec_ref")
    for mod in ("cf", "cf.notebook", "cf.backbone", "cf.trainer"):
        importlib.import_module(f"lmrec_ref.{mod}")
    return lib


def reference_spec(lib, spec: CFSpec):
    """The same run for the reference code: its own CFSpec, without the names it does not know."""
    import dataclasses

    cls = lib.cf.registry.backbone_class(spec.backbone)
    if hasattr(cls, "Params"):
        extra = {k: v for k, v in spec.extra.items() if k in cls.Params.names()}
    else:  # before the parameter dataclasses: no edge_drop / con_negatives
        extra = {k: v for k, v in spec.extra.items() if k not in ("edge_drop", "con_negatives")}
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name not in ("extra", "train")}
    train = {k: getattr(spec.train, k) for k in ("epochs", "batch_size", "lr", "eval_every", "patience")}
    if not hasattr(lib.cf.notebook.CFSpec, "from_notebook"):  # before f343227 these had defaults
        train = {"batch_size": spec.train.batch_size}
    return lib.cf.notebook.CFSpec(**fields, extra=extra, train=lib.cf.trainer.CFTrainConfig(**train))


def compare(rev: str, ds, names: list[str], threads: list[int], n_batches: int, reps: int) -> None:
    """Old (``rev``) vs new seconds per epoch, back to back, for each backbone and thread count."""
    lib = load_reference(rev)
    print(f"\n### This checkout vs `{rev}`, same process, alternating (old, new) x {reps}, {n_batches} timed batches "
          "after a warm-up batch each; CPU = process CPU time (all threads)\n")
    print("| backbone | threads | old s/epoch (CPU) | new s/epoch (CPU) | CPU ratio old/new | old wall | new wall | "
          "wall ratio | load (1 min) |\n|---|---|---|---|---|---|---|---|---|")
    for name in names:
        spec = yelp_spec(name)
        if "edge_drop" in spec.extra:  # the reference only has symmetric edge dropout: time the same thing
            spec.extra["edge_drop"] = "edges"
        old_spec = reference_spec(lib, spec)
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            acc = {"old": [0.0, 0.0], "new": [0.0, 0.0]}
            loads = []
            for _ in range(reps):
                for who in ("old", "new"):
                    loads.append(os.getloadavg()[0])
                    w, c = (seconds_per_epoch(old_spec, ds, n_batches, lib) if who == "old"
                            else seconds_per_epoch(spec, ds, n_batches))
                    acc[who][0] += w / reps
                    acc[who][1] += c / reps
            (ow, oc), (nw, nc) = acc["old"], acc["new"]
            print(f"| {name} | {n_threads} | {oc:.1f} | {nc:.1f} | {oc / nc:.2f} | {ow:.1f} | {nw:.1f} | {ow / nw:.2f} | "
                  f"{min(loads):.1f}-{max(loads):.1f} |", flush=True)


def notebook_spec(name: str, alignment: str = "none") -> CFSpec:
    """The CFSpec of a CF notebook's parameters-cell defaults (ML-100K, the main job's values), item-text profiles."""
    return CFSpec.from_notebook(name, {"ALIGNMENT": alignment, "PROFILE_SOURCE": "item_text"}, progress=False)


def same_numbers(rev: str, names: list[str], alignment: str) -> None:
    """ML-100K runs of the notebooks' defaults with the CF core of ``rev`` and with this checkout: metrics side by
    side (PROFILE_SOURCE item_text for +Con/+Gen, so no LLM stage is needed)."""
    from lmrec.cf.notebook import load_cf_data

    lib = load_reference(rev)
    ds = None
    print(f"\n### ML-100K, notebook defaults, ALIGNMENT={alignment}: `{rev}` vs this checkout\n")
    for name in names:
        spec = notebook_spec(name, alignment)
        ds = ds if ds is not None else load_cf_data(spec)
        old_spec = reference_spec(lib, spec)
        old_spec.train = lib.cf.trainer.CFTrainConfig(**{k: getattr(spec.train, k) for k in (
            "epochs", "batch_size", "lr", "eval_every", "patience")}, progress=False)
        rows = {}
        for who in ("old", "new"):
            c0 = time.process_time()
            old_train = getattr(lib.cf.notebook, "train_backbone", None) or lib.cf.notebook.run_backbone  # older revisions
            r = old_train(old_spec, dataset=ds) if who == "old" else train_backbone(
                spec, dataset=ds, targets=profile_targets(spec, ds))
            rows[who] = ({k: round(v, 6) for k, v in r.metrics().items()} | {"best_epoch": r.result.best_epoch},
                         time.process_time() - c0)
        same = rows["old"][0] == rows["new"][0]
        diff = {k: (rows["old"][0][k], rows["new"][0][k]) for k in rows["new"][0] if rows["old"][0][k] != rows["new"][0][k]}
        print(f"- {name}: {'identical' if same else f'differs {diff}'}; test R@20 {rows['new'][0]['recall@20']}, "
              f"N@20 {rows['new'][0]['ndcg@20']}; CPU s {rows['old'][1]:.1f} -> {rows['new'][1]:.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO_ROOT.parent / "shared/data/rlmrec_yelp"))
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--train", default="lightgcn:300")
    ap.add_argument("--compare", default="", help="git revision to time against (old vs new, back to back)")
    ap.add_argument("--threads", default="1", help="torch thread counts for --compare, e.g. 1,2")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--ml100k", default="", help="with --compare: alignment (none|con|gen) of ML-100K runs whose "
                    "metrics are compared old vs new instead of timing Yelp epochs")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.compare and args.ml100k:
        print(f"machine: {machine_summary()}")
        same_numbers(args.compare, [b for b in args.backbones.split(",") if b], args.ml100k)
        return
    ds = load_dataset(f"rlmrec:{args.data}", "given")
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    print(f"## {ds.describe()}\n\nmachine: {machine_summary()}; malloc env: {malloc or 'none'}\n")
    if args.compare:
        compare(args.compare, ds, [b for b in args.backbones.split(",") if b],
                [int(t) for t in args.threads.split(",")], args.batches, args.reps)
        return
    print("| backbone | s/epoch (wall) | s/epoch (CPU) |\n|---|---|---|")
    for name in [b for b in args.backbones.split(",") if b]:
        try:
            wall, cpu = seconds_per_epoch(yelp_spec(name), ds, args.batches)
            print(f"| {name} | {wall:.1f} | {cpu:.1f} |", flush=True)
        except (ImportError, KeyError, ValueError) as err:
            print(f"| {name} | n/a ({type(err).__name__}: {err}) | |", flush=True)
    for item in [x for x in args.train.split(",") if x]:
        name, secs = item.split(":")
        secs, _, lr = secs.partition("@")  # optional learning-rate override: lightgcn:900@0.005
        spec = yelp_spec(name)
        if lr:
            spec.train.lr = float(lr)
        spec.train.time_limit_s = float(secs)
        spec.train.progress = False
        c0 = time.process_time()
        run = train_backbone(spec, dataset=ds)
        r = run.result
        curve = [(h["epoch"], round(h["valid_recall@20"], 4)) for h in r.history if "valid_recall@20" in h]
        print(f"\n{name} (lr {spec.train.lr:g}, time cap {secs} s of training, CPU {time.process_time() - c0:.0f} s): epochs {r.epochs_run}, "
              f"best epoch {r.best_epoch}, valid R@20 {r.valid.metrics['recall@20']:.4f}, test R@20 "
              f"{r.test.metrics['recall@20']:.4f} / N@20 {r.test.metrics['ndcg@20']:.4f}; valid curve {curve}", flush=True)


if __name__ == "__main__":
    main()
