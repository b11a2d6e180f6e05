"""The main job's LLM products as a pack: made by ``python -m lmrec pack``, read by notebooks 01 and 20.

``make_pack`` runs notebooks 01 (RLMRec item + user profiles) and 20 (LLMRec pairs, user profiles, item
attributes) with ``params/default`` overlaid by ``params/pack`` (full coverage, the pinned decoding settings)
under a private outputs root whose response cache holds exactly what they asked; that cache is written to
``packs/<name>/`` (:mod:`lmrec.llm.pack`; ``<name>`` is the dataset key unless given, so every session finds the
same folder) with a manifest: model and weight-file hash, engine, dtype, every run parameter (the decoding ones
included), the hash of every prompt template, the dataset key, the code commit, date, machine, and counts and
failures per stage. Generation is resumable: run the same command again and every finished answer is a cache hit.

Resumable across sessions and machines through the repository: ``python -m lmrec pack --partial`` writes the
private cache's current entries as a *partial* pack (``"complete": false``, no finished run needed, nothing
generated) into the same folder, merged with the partial pack already there and with one more line in its
``contributions`` (date, machine, commit, entries added); commit ``packs/<name>/``. ``make_pack`` first imports
every pack under its destination made for the same dataset (complete or partial) into its private cache, never
replacing an entry, so a new session continues where the committed partial pack stopped; the complete pack it
writes at the end replaces the partial one in that folder and keeps its contributions.

``import_packs`` (called by notebooks 01 and 20 before their first request) adds a matching complete pack's
responses to the user's response cache without replacing anything there; requests whose key is not in the pack
are generated as usual and show up as calls in the stage statistics. A partial pack is never imported
automatically: one line says it exists and that ``make pack`` completes it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .llm.cache import KVCache
from .llm.pack import (
    MANIFEST_FILE,
    PackError,
    PackImport,
    file_hashes,
    find_packs,
    import_pack,
    is_complete,
    read_entries,
    read_manifest,
    write_pack,
)
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
    """A planned run's parameters: the planner's own reading of the parameters cell overlaid by the set's values
    (:attr:`lmrec.run.plan.PlannedRun.values`; no second reader of the cell here)."""
    return run.values


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
    """Notebook parameter ``PACK``: ``"auto"`` imports every complete pack under ``packs/`` made for
    ``dataset_key`` (a partial one is named in one line, not imported), ``""`` none, anything else is a pack
    folder (imported whatever its dataset, partial or not). Returns what was imported."""
    if not choice:
        return []
    folders = find_packs(PACKS_DIR, dataset_key=dataset_key) if choice == "auto" else [repo_path(choice)]
    done = []
    for folder in folders:
        if choice == "auto":
            manifest = read_manifest(folder)
            if not is_complete(manifest):
                count = (manifest.get("entries") or {}).get("count")
                echo(f"LLM pack {manifest.get('name', folder.name)} ({_rel(folder)}) is partial ({count} responses so "
                     f"far, {_contributors(manifest)}): not imported; `make pack` completes it")
                continue
        imp = import_pack(folder, cache)
        stale = stale_reasons(imp.manifest)
        echo(f"{imp.caption()}: {imp.added} added to the response cache, {imp.present} already there"
             + (f"; made with other prompts/parameters ({'; '.join(stale[:3])}): those requests are generated"
                if stale else ""))
        done.append(imp)
    if choice == "auto" and not done:
        echo(f"no complete LLM pack for dataset {dataset_key} under {PACKS_DIR}: every request is generated")
    return done


def _rel(folder: Path) -> str:
    folder = Path(folder).resolve()
    return str(folder.relative_to(REPO_ROOT)) if folder.is_relative_to(REPO_ROOT) else str(folder)


def _contributors(manifest: dict[str, Any]) -> str:
    """How a pack was made, from its manifest's ``contributions``: ``1 contribution, last <date>`` or
    ``3 contributions from 2 CPU kinds (mixed), last <date>``."""
    contribs = manifest.get("contributions") or []
    if not contribs:
        return f"made {manifest.get('date', 'on an unknown date')}"
    kinds = {c.get("cpu") for c in contribs}
    return (f"{len(contribs)} contribution{'s' if len(contribs) > 1 else ''}"
            + (f" from {len(kinds)} CPU kinds (mixed)" if len(kinds) > 1 else "")
            + f", last {contribs[-1].get('date')}")


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


def entries_by_answer(entries: dict[str, bytes]) -> dict[str, int]:
    """Entries counted by the stage their answer's shape belongs to (a cache entry does not name its stage):
    RLMRec profiles (items and users share one schema), LLMRec user profiles, LLMRec item attributes, LLMRec
    pair answers (``a::b`` votes or label scores) and other (unparsed answers, repair turns)."""
    import json

    from .llmrec.parsing import ATTRIBUTE_FIELDS, PROFILE_FIELDS
    from .rlmrec.profiles import REQUIRED

    out: dict[str, int] = {}
    for raw in entries.values():
        text = str(json.loads(raw).get("text", ""))
        try:
            fields = set(json.loads(text))
        except (json.JSONDecodeError, TypeError):
            fields = None
        if fields == set(REQUIRED):
            stage = "rlmrec_profiles"
        elif fields is not None and fields >= set(PROFILE_FIELDS):
            stage = "llmrec_user_profiles"
        elif fields == set(ATTRIBUTE_FIELDS):
            stage = "llmrec_item_attributes"
        elif fields is None and re.fullmatch(r"\s*\S+\s*::\s*\S+\s*|(\s*-?[\d.eE+-]+)+\s*", text):
            stage = "llmrec_pairs"
        else:
            stage = "other"
        out[stage] = out.get(stage, 0) + 1
    return dict(sorted(out.items()))


def pack_dataset_key(p01: dict[str, Any]) -> str:
    """The dataset key of notebook 01's run parameters (what packs are matched by)."""
    from .data import load_dataset
    from .rlmrec.profiles import dataset_key

    ds = load_dataset(p01["DATASET"], p01["SPLIT"], seed=p01["SEED"], min_rating=p01["MIN_RATING"])
    return dataset_key(ds)


def _contribution(total: int, added: int, complete: bool) -> dict[str, Any]:
    """One line of a pack's ``contributions``: when, where and with which code entries were added."""
    from .run.context import cpu_name, machine_summary

    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": f"{cpu_name()}, {os.cpu_count()} "
            "logical cores", "machine": machine_summary(), "code_commit": _commit(), "added": added,
            "entries": total, "complete": complete}


def _existing(folder: Path, key: str) -> dict[str, Any] | None:
    """The manifest of the pack already in ``folder`` (None when there is none); :class:`PackError` when it is
    damaged or made for another dataset (a name collision: nothing may be merged into it)."""
    if not (folder / MANIFEST_FILE).exists():
        return None
    manifest = read_manifest(folder)
    if manifest.get("dataset_key") != key:
        raise PackError(f"{folder / MANIFEST_FILE}: a pack for dataset {manifest.get('dataset_key')!r}, not {key!r}; "
                        "give another --name")
    return manifest


def resume_from_packs(dest: str | Path, key: str, cache: KVCache, echo=print) -> list[PackImport]:
    """Import every pack under ``dest`` made for dataset ``key`` (complete or partial) into ``cache`` (a
    generation's private one), never replacing an entry; each is verified whole first (a damaged pack raises
    :class:`PackError` and adds nothing). Says how many entries each one resumed."""
    done = []
    for folder in find_packs(dest, dataset_key=key):
        imp = import_pack(folder, cache)
        echo(f"{imp.added} entries resumed from {_rel(folder)} ({'complete' if imp.complete else 'partial'} pack of "
             f"{imp.entries}; {imp.present} already in {cache.path})")
        done.append(imp)
    return done


def make_pack(name: str = "", outputs: str | Path = "", extra_params: list[str | Path] = (),
              overrides: dict | None = None, generate: bool = True, dest: str | Path = PACKS_DIR,
              kernel: str = "lmrec", partial: bool = False, resume: bool = True, echo=print) -> Path:
    """Generate (resumably) and write a pack; returns its folder.

    ``partial``: write the private cache's current entries (merged with the partial pack already in the folder)
    as a partial pack, generating nothing and needing no finished run. Otherwise, with ``generate``, first import
    the packs under ``dest`` made for the same dataset (``resume``), run the notebooks, then write the complete
    pack; raises :class:`PackError`, writing nothing, when a packed notebook failed or has not run."""
    from .llm.chat import response_cache
    from .paths import cache_dir
    from .run.plan import build_plan
    from .run.runner import run_folder, run_plan

    outputs = Path(outputs or REPO_ROOT / "outputs" / "pack")
    os.environ["LMREC_OUTPUTS"] = str(outputs.resolve())  # the kernels inherit it: a private response cache
    params = pack_params(extra_params)
    plan = build_plan(list(PACK_NOTEBOOKS), params, overrides or {})
    p01 = _run_params(next(r for r in plan if r.notebook == "01_profiles"))
    key = pack_dataset_key(p01)
    folder = Path(dest) / (name or key)
    existing = _existing(folder, key)
    finished = [r for r in plan if (run_folder(r) / "metrics.json").exists()]
    if partial:
        if existing is not None and is_complete(existing):
            raise PackError(f"{folder} holds a complete pack; a partial one would replace it: give another --name")
        db = cache_dir("llm") / "responses.sqlite"
        if not db.exists():
            raise PackError(f"{db}: no response cache under {outputs}, nothing to save; start the generation with "
                            f"`python -m lmrec pack --outputs {outputs}` first")
        cache = response_cache()
        entries = dict(cache.items())
        cache.close()
        previous = read_entries(folder)[1] if existing is not None else {}  # verified whole before anything
        merged = {**entries, **previous}  # what the committed pack holds stays as it is
        contributions = [*(existing or {}).get("contributions", []),
                         _contribution(len(merged), len(merged) - len(previous), complete=False)]
        entries = merged
    else:
        if generate:
            if resume:
                cache = response_cache()
                resume_from_packs(dest, key, cache, echo)
                cache.close()
            outcomes = run_plan(plan, kernel=kernel)
            failed = [o.run.name for o in outcomes if o.status == "failed"]
            if failed:
                raise PackError(f"{failed} failed (see their executed.ipynb under {outputs}/runs); nothing was packed."
                                " Fix and re-run the same command: finished answers are cached")
            finished = [r for r in plan if (run_folder(r) / "metrics.json").exists()]
        missing = sorted({r.name for r in plan} - {r.name for r in finished})
        if missing:
            raise PackError(f"{missing} have no finished run under {outputs}; run `python -m lmrec pack` without "
                            "--export-only first (or save the progress so far with --partial)")
        cache = response_cache()
        entries = dict(cache.items())
        cache.close()
        carried = (existing or {}).get("contributions", []) if resume else []
        previous = (existing or {}).get("entries", {}).get("count", 0) if carried else 0
        contributions = [*carried, _contribution(len(entries), max(len(entries) - previous, 0), complete=True)]
    from .run.context import machine_summary

    manifest = {
        "name": folder.name,
        "complete": not partial,
        "dataset_key": key,
        "model": model_identity(p01["MODEL"]),
        "engine": p01["ENGINE"],
        "dtype": p01.get("DTYPE"),
        "runs": {r.notebook: _run_params(r) for r in plan},
        "prompt_templates": template_hashes(),
        "code_commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_summary(),
        "stages": {r.notebook: _stage_counts(run_folder(r) / "metrics.json") for r in finished},
        "entries_by_answer": entries_by_answer(entries),
        "contributions": contributions,
    }
    folder = write_pack(folder, entries, manifest)
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
