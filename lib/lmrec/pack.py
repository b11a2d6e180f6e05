"""The main job's LLM products as a pack: made by ``python -m lmrec pack``, read by notebooks 01 and 20.

``make_pack`` runs notebooks 01 (RLMRec item + user profiles) and 20 (LLMRec pairs, user profiles, item
attributes) with ``params/default`` overlaid by ``params/pack`` (full coverage, the pinned decoding settings)
under a private outputs root whose response cache holds exactly what they asked; that cache is written to
``packs/<name>/`` (:mod:`lmrec.llm.pack`) with a manifest: model and weight-file hash, engine, dtype, every run
parameter (the decoding ones included), the hash of every prompt template, the dataset key, the code commit,
date, machine, and counts and failures per stage. Generation is resumable: run the same command again and every
finished answer is a cache hit.

``import_packs`` (called by notebooks 01 and 20 before their first request) adds a matching pack's responses
to the user's response cache without replacing anything there; requests whose key is not in the pack are
generated as usual and show up as calls in the stage statistics.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .llm.cache import KVCache
from .llm.pack import PackError, PackImport, file_hashes, find_packs, import_pack, read_manifest, write_pack
from .paths import REPO_ROOT, params_dir, repo_path

PACKS_DIR = REPO_ROOT / "packs"
PACK_NOTEBOOKS = ("01_profiles", "20_llmrec_augment")
PACK_PARAMS = ("default", "pack")   # params/<name> folders, merged in order
LIB = Path(__file__).resolve().parent


def prompt_templates() -> list[Path]:
    """Every file that holds prompt text of the packed stages: the RLMRec templates, the LLM layer's
    templates, and LLMRec's prompt builders (its prompts are written in code)."""
    return sorted([*(LIB / "rlmrec" / "prompts").glob("*.txt"), *(LIB / "llm" / "prompts").glob("*.txt"),
                   LIB / "llmrec" / "prompts.py"])


def template_hashes() -> dict[str, str]:
    return file_hashes(prompt_templates(), REPO_ROOT)


def pack_params(extra: list[str | Path] = ()) -> dict:
    """The merged parameter sets a pack is made with (``params/default`` + ``params/pack`` + ``extra``)."""
    from .run.plan import load_params

    return load_params([params_dir() / p for p in PACK_PARAMS] + [Path(p) for p in extra])


def planned_params(params: dict, overrides: dict | None = None) -> dict[str, dict[str, Any]]:
    """``{notebook: its run parameters}`` of the packed notebooks under ``params`` (what the keys depend on)."""
    from .run.plan import build_plan

    return {run.notebook: _run_params(run) for run in build_plan(list(PACK_NOTEBOOKS), params, overrides or {})}


def _run_params(run: Any) -> dict[str, Any]:
    """A planned run's parameters: the parameters cell's defaults (source text) overlaid by the set's values."""
    def literal(text: Any) -> Any:
        try:
            return ast.literal_eval(text) if isinstance(text, str) else text
        except (ValueError, SyntaxError):
            return text

    return {**{k: literal(v) for k, v in run.defaults.items() if k != "RUN_DIR"},
            **{k: v for k, v in run.params.items() if k != "RUN_DIR"}}


def stale_reasons(manifest: dict[str, Any], params: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Why a pack no longer matches the code: prompt templates edited (or added/removed) and run parameters
    changed since it was made. Empty when it matches. (A stale pack still imports; its changed requests miss.)"""
    out = []
    now, then = template_hashes(), manifest.get("prompt_templates", {})
    for path in sorted(set(now) | set(then)):
        if now.get(path) != then.get(path):
            out.append(f"prompt template {path} " + ("added" if path not in then else "removed" if path not in now
                                                      else "edited"))
    params = planned_params(pack_params()) if params is None else params
    for nb, recorded in (manifest.get("runs") or {}).items():
        current = params.get(nb, {})
        for k in sorted(set(recorded) | set(current)):
            if recorded.get(k) != current.get(k):
                out.append(f"{nb}: {k} = {current.get(k)!r} now, {recorded.get(k)!r} in the pack")
    return out


def import_packs(choice: str, dataset_key: str, cache: KVCache, echo=print) -> list[PackImport]:
    """Notebook parameter ``PACK``: ``"auto"`` imports every pack under ``packs/`` made for ``dataset_key``,
    ``""`` none, anything else is a pack folder (imported whatever its dataset). Returns what was imported."""
    if not choice:
        return []
    folders = find_packs(PACKS_DIR, dataset_key=dataset_key) if choice == "auto" else [repo_path(choice)]
    done = []
    for folder in folders:
        imp = import_pack(folder, cache)
        stale = stale_reasons(imp.manifest)
        echo(f"{imp.caption()}: {imp.added} added to the response cache, {imp.present} already there"
             + (f"; made with other prompts/parameters ({'; '.join(stale[:3])}): those requests are generated"
                if stale else ""))
        done.append(imp)
    if choice == "auto" and not folders:
        echo(f"no LLM pack for dataset {dataset_key} under {PACKS_DIR}: every request is generated")
    return done


def pack_caption(imports: list[PackImport]) -> str:
    """A report caption fragment naming the imported packs (or saying there was none)."""
    return "; ".join(i.caption() for i in imports) if imports else "no LLM pack"


# ------------------------------------------------------------------------------------------------ making
def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "lib"], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+uncommitted lib/ changes" if dirty else "") if head else "unknown"


def model_identity(name: str) -> dict[str, Any]:
    """The model's name and the SHA-256 of its weight file(s) (for the offline alias: the GGUF it comes from)."""
    from .llm.hf import SMOLLM2_ALIASES, smollm2_gguf_path
    from .llm.pack import sha256_file

    if name in SMOLLM2_ALIASES:
        gguf = smollm2_gguf_path()
        return {"name": name, "weights_file": gguf.name, "weights_sha256": sha256_file(gguf)}
    folder = Path(name)
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) if folder.is_dir() else []
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    return {"name": name, "weights_file": [f.name for f in files], "weights_sha256": h.hexdigest() if files else None}


STAGE_KEYS = re.compile(r"(failure|failed|truncated|_n$|requests$|calls$|cache_hits$|profiled|with_|users$|wall_s$|"
                        r"cpu_s$|completion_tokens$)")


def _stage_counts(metrics_path: Path) -> dict[str, float]:
    import json

    metrics = json.loads(metrics_path.read_text()).get("metrics", {}) if metrics_path.exists() else {}
    return {k: v for k, v in sorted(metrics.items()) if STAGE_KEYS.search(k)}


def make_pack(name: str = "", outputs: str | Path = "", extra_params: list[str | Path] = (),
              overrides: dict | None = None, generate: bool = True, dest: str | Path = PACKS_DIR,
              kernel: str = "lmrec") -> Path:
    """Generate (resumably) and write a pack; returns its folder. Raises :class:`PackError`, writing nothing,
    when a packed notebook failed or has not run."""
    from .data import load_dataset
    from .llm.chat import response_cache
    from .rlmrec.profiles import dataset_key
    from .run.context import machine_summary
    from .run.plan import build_plan
    from .run.runner import run_folder, run_plan

    outputs = Path(outputs or REPO_ROOT / "outputs" / "pack")
    os.environ["LMREC_OUTPUTS"] = str(outputs.resolve())  # the kernels inherit it: a private response cache
    params = pack_params(extra_params)
    plan = build_plan(list(PACK_NOTEBOOKS), params, overrides or {})
    if generate:
        outcomes = run_plan(plan, kernel=kernel)
        failed = [o.run.name for o in outcomes if o.status == "failed"]
        if failed:
            raise PackError(f"{failed} failed (see their executed.ipynb under {outputs}/runs); nothing was packed. "
                            "Fix and re-run the same command: finished answers are cached")
    runs = {}
    for run in plan:
        metrics = run_folder(run) / "metrics.json"
        if not metrics.exists():
            raise PackError(f"{run.name} has no finished run under {outputs}; run `python -m lmrec pack` without "
                            "--export-only first")
        runs[run.notebook] = run
    p01 = _run_params(runs["01_profiles"])
    ds = load_dataset(p01["DATASET"], p01["SPLIT"], seed=p01["SEED"], min_rating=p01["MIN_RATING"])
    key = dataset_key(ds)
    cache = response_cache()
    entries = dict(cache.items())
    cache.close()
    manifest = {
        "name": name or f"{key}-{time.strftime('%Y%m%d')}",
        "dataset_key": key,
        "model": model_identity(p01["MODEL"]),
        "engine": p01["ENGINE"],
        "dtype": p01.get("DTYPE"),
        "runs": {r.notebook: _run_params(r) for r in plan},
        "prompt_templates": template_hashes(),
        "code_commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_summary(),
        "stages": {r.notebook: _stage_counts(run_folder(r) / "metrics.json") for r in plan},
    }
    folder = write_pack(Path(dest) / manifest["name"], entries, manifest)
    read_manifest(folder)
    return folder


def compare_packs(a: str | Path, b: str | Path) -> dict[str, Any]:
    """Keys only in ``a``, only in ``b``, in both, and in both with the same answer text (e.g. a CPU-made and a
    GPU-made pack of the same parameters)."""
    import json

    from .llm.pack import read_entries

    (_, ea), (_, eb) = read_entries(a), read_entries(b)
    both = set(ea) & set(eb)
    same = sum(json.loads(ea[k])["text"] == json.loads(eb[k])["text"] for k in both)
    return {"a": str(a), "b": str(b), "only_a": len(set(ea) - both), "only_b": len(set(eb) - both),
            "both": len(both), "same_text": same}
