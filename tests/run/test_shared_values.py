"""Values a downstream notebook still declares although its upstream notebook owns them (02 of 01, 21 of 20, 31 of 30:
the data, and for 31 the encoder the checkpoint was made with). Until the downstream notebooks take them from the
upstream run's record, as 41 takes 40's, every shipped parameter set must plan each downstream run with the values
of an upstream run of the same plan, and the two parameters cells must agree: a copy edited alone fails here, not
hours into a run (02 and 21 would stop at 'no profiles / augmentation for ...', 31 would sample other users)."""

from __future__ import annotations

from unittest import mock

import pytest

import lmrec.run.plan as planner
from lmrec.defaults import notebook_defaults
from lmrec.paths import params_dir
from lmrec.run.plan import build_plan, find_notebooks, load_params, notebook_reads

# downstream -> (upstream, values it must share with the upstream run it reads)
SHARED = {
    "02_embeddings": ("01_profiles", ("DATASET", "SPLIT", "MIN_RATING")),
    "21_llmrec_train": ("20_llmrec_augment", ("DATASET", "SPLIT", "MIN_RATING")),
    # 31's data selection is 30's too: 30's zero-shot numbers are reused only where TEXT_FIELDS and MAX_USERS agree
    "31_recformer_finetune": ("30_recformer_pretrain", ("DATASET", "SPLIT", "LM", "N_LM_LAYERS", "MAX_ITEM_EMBEDDINGS",
                                                        "TEXT_FIELDS", "MAX_USERS")),
}
ALL = tuple(SHARED)
# shipped parameter sets (merged in order) and the downstream notebooks they run
SETS = [(("default",), ALL), (("smoke",), ALL), (("default", "recformer_full"), ALL),
        (("default", "scientific"), ("31_recformer_finetune",)), (("default", "llm_ablations"), ALL),
        (("smoke", "llm_ablations", "llm_ablations/smoke"), ALL), (("default", "llmrec_ablations"), ALL)]


def upstream_seed(notebook: str, values: dict) -> int:
    """The SEED of the upstream run a downstream run reads (21: its split seed; 31: PRETRAIN_SEED, 0 meaning SEED)."""
    if notebook == "21_llmrec_train":
        return values["SEED"] if values["SPLIT_SEED"] < 0 else values["SPLIT_SEED"]
    if notebook == "31_recformer_finetune":
        return values["PRETRAIN_SEED"] or values["SEED"]
    return values["SEED"]


def unmatched(runs: list, downstream: str) -> list[str]:
    """Downstream runs of a plan with no upstream run of the same seed and shared values."""
    upstream, names = SHARED[downstream]
    made = {(r.values["SEED"], tuple(r.values[n] for n in names)) for r in runs if r.notebook == upstream}
    return [f"{r.name}: {dict(zip(names, (r.values[n] for n in names)))}, seed {upstream_seed(downstream, r.values)}; "
            f"{upstream} runs: {sorted(made)}"
            for r in runs if r.notebook == downstream
            and (upstream_seed(downstream, r.values), tuple(r.values[n] for n in names)) not in made]


@pytest.mark.parametrize("downstream", list(SHARED))
def test_both_notebooks_declare_the_shared_values_with_one_default(downstream):
    upstream, names = SHARED[downstream]
    down, up = notebook_defaults(downstream), notebook_defaults(upstream)
    assert upstream in notebook_reads(find_notebooks()[downstream]), f"{downstream} no longer reads {upstream}"
    for name in names:
        assert name in down and name in up, f"{name}: no longer declared by both; update SHARED (and this test's doc)"
        assert down[name] == up[name], f"{downstream} {name} = {down[name]!r}, {upstream} {name} = {up[name]!r}"


@pytest.mark.parametrize(("sets", "downstreams"), SETS, ids=["+".join(s) for s, _ in SETS])
def test_every_downstream_run_reads_an_upstream_run_of_its_plan(sets, downstreams):
    params = load_params([params_dir() / s for s in sets])
    with mock.patch.object(planner, "check_dataset_folder", lambda dataset, where: None):  # the values, not the data
        for downstream in downstreams:
            upstream = SHARED[downstream][0]
            runs = build_plan([upstream, downstream], params)
            assert not unmatched(runs, downstream), unmatched(runs, downstream)


def test_a_value_set_for_the_upstream_only_is_caught():
    params = load_params([params_dir() / "smoke"])
    params["notebooks"]["30_recformer_pretrain"]["MAX_USERS"] = 80
    runs = build_plan(["30", "31"], params)
    assert unmatched(runs, "31_recformer_finetune")
    runs = build_plan(["01", "02"], load_params([params_dir() / "default"]), {"01_profiles.MIN_RATING": 3})
    assert unmatched(runs, "02_embeddings")
