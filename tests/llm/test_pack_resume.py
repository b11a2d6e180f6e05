"""Pack generation resumable across sessions and machines through the repository: ``pack --partial`` saves the
private cache's entries (no finished run needed) as a partial pack whose manifest lists every contribution; the
next ``make_pack`` resumes from it (its requests are cache hits) and the complete pack replaces it in the same
folder; notebooks never import a partial pack; a damaged partial pack is refused whole."""

from __future__ import annotations

import json

import pytest

import lmrec.pack as packmod
import lmrec.run.context as context
import lmrec.run.runner as runner
from lmrec.llm.cache import KVCache
from lmrec.llm.chat import ChatRequest, GenParams, generate_chat, response_cache
from lmrec.llm.pack import MANIFEST_FILE, PackError, read_entries, read_manifest, write_pack
from lmrec.run.runner import RunOutcome, run_folder
from tests.llm.test_pack import TITLES, EchoChat, _damage

KEY = "ds-key"
REQUESTS = [ChatRequest([{"role": "user", "content": f"Describe the movie {t}."}]) for t in TITLES]


class FakeRunner:
    """Stands in for the notebooks: answers the first ``n`` requests through the private response cache with
    :class:`EchoChat`, records the batch's statistics, and finishes each run (metrics.json) unless ``crash``."""

    def __init__(self, n: int, crash: bool = False):
        self.n, self.crash, self.stats = n, crash, None

    def __call__(self, plan, kernel="lmrec", **_):
        cache = response_cache()
        self.stats = generate_chat(EchoChat(), REQUESTS[:self.n], GenParams(), cache=cache, progress=False).stats
        cache.close()
        outcomes = []
        for run in plan:
            folder = run_folder(run)
            folder.mkdir(parents=True, exist_ok=True)
            if not self.crash:
                (folder / "metrics.json").write_text(json.dumps({"metrics": {"profile_calls": self.stats.calls}}))
            outcomes.append(RunOutcome(run, "failed" if self.crash else "done", 0.0, folder))
        return outcomes


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """No dataset, no model file: the pack's identity is faked; LMREC_OUTPUTS is restored afterwards."""
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path / "unused"))
    monkeypatch.setattr(packmod, "pack_dataset_key", lambda p01: KEY)
    monkeypatch.setattr(packmod, "model_identity", lambda name: {"name": name})
    monkeypatch.setattr(context, "cpu_name", lambda: "CPU kind A")
    return tmp_path


def _kind(contribution: dict) -> str:
    return contribution["cpu"].split(",")[0]  # "<CPU model>, <n> logical cores"


def _make(env, outputs: str, runner_fn=None, monkeypatch=None, **kw):
    if runner_fn is not None:
        monkeypatch.setattr(runner, "run_plan", runner_fn)
    said: list[str] = []
    folder = packmod.make_pack(outputs=env / outputs, dest=env / "packs", echo=said.append, **kw)
    return folder, said


def test_partial_export_needs_no_finished_run_and_is_named_by_the_dataset(env, monkeypatch):
    with pytest.raises(PackError, match="failed"):  # session 1: the generation stops after 3 answers
        _make(env, "a", FakeRunner(3, crash=True), monkeypatch)
    with pytest.raises(PackError, match="no finished run.*--partial"):
        _make(env, "a", generate=False)  # --export-only still needs finished runs
    folder, _ = _make(env, "a", partial=True)
    assert folder == env / "packs" / KEY  # stable name: the next session finds the same folder
    manifest, entries = read_entries(folder)
    assert manifest["complete"] is False and len(entries) == 3 and manifest["stages"] == {}
    assert manifest["dataset_key"] == KEY and manifest["model"] == {"name": "smollm2-135m-instruct"}
    assert set(manifest["runs"]) == set(packmod.PACK_NOTEBOOKS) and manifest["prompt_templates"]
    assert manifest["date"] and manifest["machine"] and manifest["code_commit"]
    assert manifest["entries_by_answer"] == {"other": 3}  # EchoChat answers {"n": ...}: no stage's shape
    [c] = manifest["contributions"]
    assert (c["added"], c["entries"], c["complete"], _kind(c)) == (3, 3, False, "CPU kind A")


def test_a_partial_export_without_a_cache_says_what_to_run(env):
    with pytest.raises(PackError, match="no response cache.*python -m lmrec pack --outputs"):
        _make(env, "nothing", partial=True)
    assert not (env / "packs").exists()


def test_make_pack_resumes_from_the_partial_pack_and_replaces_it(env, monkeypatch):
    with pytest.raises(PackError):
        _make(env, "a", FakeRunner(3, crash=True), monkeypatch)
    _make(env, "a", partial=True)
    monkeypatch.setattr(context, "cpu_name", lambda: "CPU kind B")  # the next session, on a fresh machine
    fake = FakeRunner(len(REQUESTS))
    folder, said = _make(env, "b", fake, monkeypatch)
    assert f"3 entries resumed from {folder}" in said[0] and "partial pack of 3" in said[0]
    assert (fake.stats.cache_hits, fake.stats.calls) == (3, len(REQUESTS) - 3)
    manifest, entries = read_entries(folder)
    assert folder == env / "packs" / KEY and manifest["complete"] is True and len(entries) == len(REQUESTS)
    assert [(_kind(c), c["added"], c["complete"]) for c in manifest["contributions"]] == [
        ("CPU kind A", 3, False), ("CPU kind B", len(REQUESTS) - 3, True)]
    assert set(manifest["stages"]) == set(packmod.PACK_NOTEBOOKS)
    # --no-resume: a fresh generation owes nothing to the packs there
    fresh = FakeRunner(len(REQUESTS))
    folder, said = _make(env, "c", fresh, monkeypatch, resume=False)
    assert fresh.stats.cache_hits == 0 and not any("resumed" in s for s in said)
    assert len(read_manifest(folder)["contributions"]) == 1


def test_partial_exports_merge_and_append_their_machines(env, monkeypatch):
    cache = KVCache(env / "a" / "cache" / "llm" / "responses.sqlite")
    generate_chat(EchoChat(), REQUESTS[:2], GenParams(), cache=cache, progress=False)
    cache.close()
    _make(env, "a", partial=True)
    monkeypatch.setattr(context, "cpu_name", lambda: "CPU kind B")
    cache = KVCache(env / "b" / "cache" / "llm" / "responses.sqlite")  # another machine, never resumed
    generate_chat(EchoChat(), REQUESTS[1:4], GenParams(), cache=cache, progress=False)
    cache.close()
    folder, _ = _make(env, "b", partial=True)
    manifest, entries = read_entries(folder)
    assert len(entries) == 4  # nothing the committed pack held is lost
    assert [(_kind(c), c["added"], c["entries"]) for c in manifest["contributions"]] == [
        ("CPU kind A", 2, 2), ("CPU kind B", 2, 4)]
    assert "2 CPU kinds (mixed)" in packmod._contributors(manifest)
    # a complete pack is never turned back into a partial one
    manifest["complete"] = True
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(PackError, match="holds a complete pack.*--name"):
        _make(env, "b", partial=True)


@pytest.mark.parametrize("how", ["truncated", "hash", "bad_line"])
def test_a_damaged_partial_pack_is_refused_whole(env, monkeypatch, how):
    cache = KVCache(env / "a" / "cache" / "llm" / "responses.sqlite")
    generate_chat(EchoChat(), REQUESTS, GenParams(), cache=cache, progress=False)
    cache.close()
    folder, _ = _make(env, "a", partial=True)
    _damage(folder, how)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    fake = FakeRunner(len(REQUESTS))
    with pytest.raises(PackError, match="make pack"):  # resuming: nothing imported, nothing generated
        _make(env, "b", fake, monkeypatch)
    assert fake.stats is None and len(KVCache(env / "b" / "cache" / "llm" / "responses.sqlite")) == 0
    with pytest.raises(PackError, match="make pack"):  # saving again: nothing merged, nothing written
        _make(env, "a", partial=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_notebooks_do_not_import_a_partial_pack(env, monkeypatch):
    folder = env / "packs" / KEY
    contrib = {"date": "2026-12-07 00:00 UTC", "cpu": "CPU kind A"}
    cache = KVCache(env / "made.sqlite")
    generate_chat(EchoChat(), REQUESTS, GenParams(), cache=cache, progress=False)
    entries = dict(cache.items())
    write_pack(folder, entries, {"name": KEY, "dataset_key": KEY, "complete": False, "contributions": [contrib]})
    monkeypatch.setattr(packmod, "PACKS_DIR", env / "packs")
    monkeypatch.setattr(packmod, "stale_reasons", lambda manifest: [])
    said: list[str] = []
    user = KVCache(env / "user.sqlite")
    assert packmod.import_packs("auto", KEY, user, echo=said.append) == []
    assert len(user) == 0
    assert f"LLM pack {KEY}" in said[0] and f"is partial ({len(REQUESTS)} responses so far" in said[0]
    assert "not imported; `make pack` completes it" in said[0]
    # named explicitly, it is imported, and its caption says partial
    [imp] = packmod.import_packs(str(folder), KEY, user, echo=said.append)
    assert len(user) == len(REQUESTS) and imp.caption().endswith("responses, partial)")
    # the complete pack replaces the partial one in the same folder: now it is imported
    write_pack(folder, entries, {"name": KEY, "dataset_key": KEY, "complete": True, "contributions": [contrib]})
    other = KVCache(env / "other.sqlite")
    [imp] = packmod.import_packs("auto", KEY, other, echo=said.append)
    assert imp.complete and len(other) == len(REQUESTS)
