"""A crash-safe persistent key-value store (sqlite3 in WAL mode) for LLM responses and embeddings.

Every ``put`` is its own committed transaction, so a crash or Ctrl-C loses at most the call in flight and
never corrupts what was stored; several threads (and processes) may read and write the same file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class KVCache:
    """``key -> bytes`` in one sqlite file (WAL journal, ``synchronous=FULL``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that are present."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for k, v in self._conn.execute(f"SELECT key, value FROM kv WHERE key IN ({marks})", chunk):
                    found[k] = bytes(v)
        return found

    def put(self, key: str, value: bytes) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Store items in one committed transaction."""
        items = list(items)
        if not items:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", items)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def put_missing(self, items: Iterable[tuple[str, bytes]]) -> int:
        """Store the items whose key is not present yet, in one committed transaction (all or none); returns how
        many were added. Present keys keep their value."""
        items = list(items)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                before = self._conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0]
                self._conn.executemany("INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", items)
                added = self._conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0] - before
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return int(added)

    def items(self) -> list[tuple[str, bytes]]:
        """Every ``(key, value)``, sorted by key."""
        with self._lock:
            return [(k, bytes(v)) for k, v in self._conn.execute("SELECT key, value FROM kv ORDER BY key")]

    def get_json(self, key: str) -> Any | None:
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    def put_json(self, key: str, obj: Any) -> None:
        self.put(key, json.dumps(obj, ensure_ascii=False).encode())

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0])

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
