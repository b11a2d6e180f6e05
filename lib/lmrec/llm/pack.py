"""A pack of LLM responses: the response-cache entries of a generation run, compressed and versioned, with a manifest.

A pack is a folder ``<name>/`` holding ``manifest.json`` and ``responses.jsonl.xz`` (one ``{"k": key, "v": value}``
line per cache entry, sorted by key; ``value`` is the cached JSON text of :func:`lmrec.llm.chat.generate_chat`).
The manifest records the format version, the entries file's SHA-256, size and entry count, and whatever the
maker adds (model, weights hash, engine, dtype, decoding parameters, prompt-template hashes, dataset key,
commit, date, machine, counts and failures per stage). A manifest with ``"complete": false`` describes a
*partial* pack: the entries a generation had made when it was saved, to be continued (possibly on another
machine) and never read as a finished product; a manifest without the field is complete.

:func:`import_pack` checks everything before it writes anything (version, size, hash, every line, the count),
then adds the entries to a response cache in one transaction, never replacing an entry the cache already
holds: a damaged pack raises :class:`PackError` and leaves the cache as it was. Keys are content hashes of the
backend identity, messages and generation parameters, so an entry whose prompt or parameters changed since
the pack was made is simply never asked for: that request is generated and counted like any cache miss.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..utils import atomic_path, write_json
from .cache import KVCache

PACK_FORMAT = 1
ENTRIES_FILE = "responses.jsonl.xz"
MANIFEST_FILE = "manifest.json"


class PackError(RuntimeError):
    """A pack that cannot be used (missing, damaged, other format version); the message names the file and the fix."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_pack(folder: str | Path, entries: dict[str, bytes], manifest: dict[str, Any]) -> Path:
    """Write ``entries`` (key -> cached value) and ``manifest`` (plus format, hash, count) into ``folder``.

    The entries file is written first and atomically, the manifest last (also atomically), so a folder with a
    manifest always has the entries it describes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"k": k, "v": entries[k].decode()}, ensure_ascii=False) + "\n" for k in sorted(entries))
    target = folder / ENTRIES_FILE
    with atomic_path(target) as tmp:
        with lzma.open(tmp, "wb", preset=9) as fh:
            fh.write(lines.encode())
    full = {"format_version": PACK_FORMAT, **manifest,
            "entries": {"file": ENTRIES_FILE, "count": len(entries), "bytes": target.stat().st_size,
                        "sha256": sha256_file(target)}}
    write_json(folder / MANIFEST_FILE, full)
    return folder


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of the pack in ``folder``; :class:`PackError` when it is missing, unreadable or of another version."""
    path = Path(folder) / MANIFEST_FILE
    if not path.exists():
        raise PackError(f"{path}: no pack manifest; give a folder written by `python -m lmrec pack`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PackError(f"{path}: manifest is not valid JSON ({err}); restore it from git or re-make the pack "
                        "with `make pack`") from err
    version = manifest.get("format_version")
    if version != PACK_FORMAT:
        raise PackError(f"{path}: format_version {version!r}, this code reads version {PACK_FORMAT}; re-make the "
                        "pack with `make pack` (or use the code version that made it)")
    return manifest


def is_complete(manifest: dict[str, Any]) -> bool:
    """False only for a partial pack (``"complete": false``); packs written before the field existed are complete."""
    return manifest.get("complete", True) is not False


def read_entries(folder: str | Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``(manifest, entries)`` of a pack, verified: size, SHA-256, a complete xz stream, every line, the count."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    meta = manifest.get("entries") or {}
    path = folder / str(meta.get("file", ENTRIES_FILE))
    fix = "restore the pack from git (git checkout of that folder) or re-make it with `make pack`"
    if not path.exists():
        raise PackError(f"{path}: missing; {fix}")
    if path.stat().st_size != meta.get("bytes") or sha256_file(path) != meta.get("sha256"):
        raise PackError(f"{path}: size or SHA-256 differs from {folder / MANIFEST_FILE} (damaged or truncated); {fix}")
    try:
        text = lzma.decompress(path.read_bytes()).decode()
    except (lzma.LZMAError, EOFError, UnicodeDecodeError) as err:
        raise PackError(f"{path}: not a complete xz stream ({err}); {fix}") from err
    entries: dict[str, bytes] = {}
    for n, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
            key, value = row["k"], row["v"]
            json.loads(value)  # a cached response is JSON text
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise PackError(f"{path}: line {n} is not a pack entry ({err}); {fix}") from err
        entries[str(key)] = str(value).encode()
    if len(entries) != meta.get("count"):
        raise PackError(f"{path}: {len(entries)} entries, the manifest says {meta.get('count')}; {fix}")
    return manifest, entries


@dataclass
class PackImport:
    """What :func:`import_pack` did: the pack's name and entry count, entries added, entries the cache already had."""

    name: str
    entries: int
    added: int
    present: int
    manifest: dict[str, Any]

    @property
    def complete(self) -> bool:
        return is_complete(self.manifest)

    def caption(self) -> str:
        return f"LLM pack {self.name} ({self.entries} responses{'' if self.complete else ', partial'})"


def import_pack(folder: str | Path, cache: KVCache) -> PackImport:
    """Add the verified entries of the pack in ``folder`` to ``cache`` in one transaction (all or none); entries
    whose key the cache already holds are kept as they are (the user's own responses win)."""
    folder = Path(folder)
    manifest, entries = read_entries(folder)
    added = cache.put_missing(entries.items())
    return PackImport(name=str(manifest.get("name", folder.name)), entries=len(entries), added=added,
                      present=len(entries) - added, manifest=manifest)


def find_packs(root: str | Path, **match: Any) -> list[Path]:
    """Pack folders under ``root`` whose manifest holds every ``match`` item (e.g. ``dataset_key=...``), by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for manifest in sorted(root.glob(f"*/{MANIFEST_FILE}")):
        try:
            data = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError) as err:  # never skipped silently: a damaged pack is an error
            raise PackError(f"{manifest}: manifest is not readable JSON ({err}); restore the pack from git or "
                            "re-make it with `make pack`") from err
        if all(data.get(k) == v for k, v in match.items()):
            out.append(manifest.parent)
    return out


def file_hashes(paths: list[Path], base: Path) -> dict[str, str]:
    """``{path relative to base: sha256}`` of the given files (sorted), for a manifest."""
    return {os.path.relpath(p, base): sha256_file(p) for p in sorted(paths)}
