"""LLM packs: written and read back verified, imported all-or-nothing without touching the user's entries; a
prompt edit turns the affected requests into counted misses; the shipped packs match the current prompts."""

from __future__ import annotations

import json
import lzma

import pytest

from lmrec.llm.cache import KVCache
from lmrec.llm.chat import ChatRequest, GenParams, generate_chat, request_key
from lmrec.llm.pack import MANIFEST_FILE, PackError, import_pack, read_entries, write_pack
from lmrec.pack import PACKS_DIR, find_packs, stale_reasons, template_hashes


class EchoChat:
    """A deterministic backend: answers each request with the JSON of its last message's length."""

    kind, model = "echo", "echo"

    def __init__(self):
        self.calls = 0

    def cache_identity(self):
        return {"backend": self.kind}

    def generate(self, requests, gen, on_result):
        from lmrec.llm.chat import ChatResult

        for i, r in enumerate(requests):
            self.calls += 1
            on_result(i, ChatResult(text=json.dumps({"n": len(r.messages[-1]["content"])}), finish_reason="stop"))


TEMPLATE = "Describe the movie {title} for a recommender."
TITLES = ["Heat", "Fargo", "Babe", "Casino", "Se7en"]


def _requests(template: str) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": template.format(title=t)}]) for t in TITLES]


@pytest.fixture()
def pack(tmp_path):
    made = KVCache(tmp_path / "made.sqlite")
    generate_chat(EchoChat(), _requests(TEMPLATE), GenParams(), cache=made, progress=False)
    folder = write_pack(tmp_path / "packs" / "p1", dict(made.items()), {"name": "p1", "dataset_key": "d"})
    made.close()
    return folder


def test_roundtrip_and_the_users_entries_are_never_replaced(pack, tmp_path):
    manifest, entries = read_entries(pack)
    assert manifest["entries"]["count"] == len(entries) == len(TITLES)
    user = KVCache(tmp_path / "user.sqlite")
    mine = request_key(EchoChat(), _requests(TEMPLATE)[0], GenParams())
    user.put(mine, b'{"text": "my own answer"}')
    imp = import_pack(pack, user)
    assert (imp.added, imp.present) == (len(TITLES) - 1, 1)
    assert user.get(mine) == b'{"text": "my own answer"}'
    again = import_pack(pack, user)
    assert again.added == 0 and len(user) == len(TITLES)


def test_a_prompt_edit_turns_the_affected_entries_into_counted_misses(pack, tmp_path):
    cache = KVCache(tmp_path / "c.sqlite")
    import_pack(pack, cache)
    backend = EchoChat()
    edited = [r if i % 2 else ChatRequest([{"role": "user", "content": r.messages[0]["content"] + " Be brief."}])
              for i, r in enumerate(_requests(TEMPLATE))]
    run = generate_chat(backend, edited, GenParams(), cache=cache, progress=False)
    assert run.stats.cache_hits == 2 and run.stats.calls == 3 == backend.calls
    # generation parameters are part of the key too
    other = generate_chat(backend, _requests(TEMPLATE), GenParams(max_new_tokens=7), cache=cache, progress=False)
    assert other.stats.cache_hits == 0


def _damage(folder, how):
    entries = folder / "responses.jsonl.xz"
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    if how == "truncated":
        entries.write_bytes(entries.read_bytes()[:-40])
    elif how == "hash":
        manifest["entries"]["sha256"] = "0" * 64
    elif how == "version":
        manifest["format_version"] = 99
    elif how == "bad_line":  # a well-formed, correctly hashed file whose last line is not an entry
        text = lzma.decompress(entries.read_bytes()) + b"not json\n"
        entries.write_bytes(lzma.compress(text))
        from lmrec.llm.pack import sha256_file

        manifest["entries"].update(bytes=entries.stat().st_size, sha256=sha256_file(entries))
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


@pytest.mark.parametrize("how,says", [("truncated", "size or SHA-256"), ("hash", "size or SHA-256"),
                                      ("version", "format_version 99"), ("bad_line", "line 6")])
def test_a_damaged_pack_is_refused_whole_with_a_clear_error(pack, tmp_path, how, says):
    _damage(pack, how)
    cache = KVCache(tmp_path / "c.sqlite")
    with pytest.raises(PackError, match=says) as err:
        import_pack(pack, cache)
    assert str(pack) in str(err.value) and "make pack" in str(err.value)
    assert len(cache) == 0  # nothing half-imported


def test_import_is_one_transaction(pack, tmp_path, monkeypatch):
    cache = KVCache(tmp_path / "c.sqlite")
    real = cache._conn

    class Failing:  # the database fails after the inserts began: nothing may stay
        def __getattr__(self, name):
            return getattr(real, name)

        def execute(self, sql, *a):
            if sql.startswith("SELECT COUNT") and "inserted" in flags:
                raise RuntimeError("disk full")
            return real.execute(sql, *a)

        def executemany(self, sql, rows):
            flags.add("inserted")
            return real.executemany(sql, rows)

    flags: set[str] = set()
    cache._conn = Failing()
    with pytest.raises(RuntimeError, match="disk full"):
        import_pack(pack, cache)
    cache._conn = real
    assert len(cache) == 0


def test_stale_reasons_name_edited_templates_and_changed_parameters():
    manifest = {"prompt_templates": template_hashes(), "runs": {"01_profiles": {"N_ITEMS": 0}}}
    assert stale_reasons(manifest, {"01_profiles": {"N_ITEMS": 0}}) == []
    path = next(iter(manifest["prompt_templates"]))
    manifest["prompt_templates"][path] = "0" * 64
    reasons = stale_reasons(manifest, {"01_profiles": {"N_ITEMS": 150}})
    assert f"prompt template {path} edited" in reasons
    assert "01_profiles: N_ITEMS = 150 now, 0 in the pack" in reasons


SHIPPED = find_packs(PACKS_DIR)


@pytest.mark.skipif(not SHIPPED, reason="no LLM pack is shipped under packs/ yet")
@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_the_shipped_pack_matches_the_current_prompts_and_parameters(folder):
    manifest, entries = read_entries(folder)
    assert stale_reasons(manifest) == [], "re-make the pack with `make pack` after editing prompts or parameters"
    assert entries


def test_a_damaged_manifest_is_an_error_when_packs_are_looked_up(pack):
    (pack / MANIFEST_FILE).write_text('{"name": "p1", "dataset_key": "d"')  # cut off
    with pytest.raises(PackError, match="manifest is not readable JSON"):
        find_packs(pack.parent, dataset_key="d")


def test_notebooks_import_the_pack_of_their_dataset_only(pack, tmp_path, monkeypatch):
    import lmrec.pack as packmod

    monkeypatch.setattr(packmod, "PACKS_DIR", pack.parent)
    monkeypatch.setattr(packmod, "stale_reasons", lambda manifest: [])
    said: list[str] = []
    cache = KVCache(tmp_path / "c.sqlite")
    assert packmod.import_packs("auto", "other-dataset", cache, echo=said.append) == []
    assert len(cache) == 0 and "no complete LLM pack for dataset other-dataset" in said[-1]
    done = packmod.import_packs("auto", "d", cache, echo=said.append)
    assert [i.name for i in done] == ["p1"] and len(cache) == len(TITLES)
    assert packmod.pack_caption(done) == f"LLM pack p1 ({len(TITLES)} responses)"
    assert packmod.import_packs("", "d", cache) == []
