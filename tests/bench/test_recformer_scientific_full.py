"""bench/recformer_scientific_full.py's user samples: the compacted dataset scores exactly the sampled users
against every item, and rows on a sample say so in their name."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

from .test_gpu_scripts import REPO


def _bench():
    spec = importlib.util.spec_from_file_location("recformer_scientific_full", REPO / "bench/recformer_scientific_full.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_compact_users_keeps_the_sampled_users_rows_and_every_item(tmp_path):
    bench = _bench()
    from lmrec.recformer.pipeline import prepare_data

    folder = bench.write_smoke_folder(tmp_path / "smoke")
    ds, _, _ = prepare_data(f"recformer:{folder}", "given", 2023)
    users = bench.sample_users(ds.n_users, 7, 2023)
    assert len(users) == 7 and len(set(users)) == 7 and np.all(np.diff(users) > 0)
    sub = bench.compact_users(ds, users)
    assert sub.n_users == 7 and sub.n_items == ds.n_items
    for split in ("train", "valid", "test"):
        assert (sub.matrix(split) != ds.matrix(split)[users]).nnz == 0, split
    assert list(sub.user_ids) == list(ds.user_ids[users])
    assert len(bench.sample_users(ds.n_users, 0, 2023)) == ds.n_users


def test_row_names_carry_the_sample():
    bench = _bench()
    assert bench.row_name("Recformer (finetuned)", 11041, 11041) == "Recformer (finetuned)"
    assert bench.row_name("Recformer (zero-shot)", 1000, 11041) == "Recformer (zero-shot; 1,000 of 11,041 users)"
