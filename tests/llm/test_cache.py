"""The response cache survives reopening and a hard kill mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from lmrec.llm.cache import KVCache


def test_values_persist_across_reopen(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = KVCache(path)
    cache.put("a", b"1")
    cache.put_json("b", {"text": "x"})
    cache.put_many([("c", b"3"), ("a", b"overwritten")])
    cache.close()
    again = KVCache(path)
    assert len(again) == 3
    assert again.get("a") == b"overwritten" and again.get_json("b") == {"text": "x"}
    assert again.get_many(["a", "zz", "c"]) == {"a": b"overwritten", "c": b"3"}
    assert "zz" not in again


def test_hard_kill_keeps_every_committed_entry(tmp_path):
    path = tmp_path / "c.sqlite"
    progress = tmp_path / "progress.txt"
    code = (
        "import os\nfrom lmrec.llm.cache import KVCache\n"
        f"c = KVCache({str(path)!r})\n"
        "for i in range(100000):\n"
        "    c.put(f'k{i}', bytes(1000))\n"
        # progress is replaced atomically, so the kill never leaves it half-written
        f"    open({str(progress)!r} + '.tmp', 'w').write(str(i))\n"
        f"    os.replace({str(progress)!r} + '.tmp', {str(progress)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline and (not progress.exists() or int(progress.read_text() or 0) < 50):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = int(progress.read_text())
    cache = KVCache(path)
    assert len(cache) >= done + 1  # every put that returned is there
    assert all(cache.get(f"k{i}") == bytes(1000) for i in range(done + 1))
    assert cache._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
