"""Notebooks 50 -> 51 -> 52 hand their tables on with the record of the run that made them: 51 and 52 restate
nothing of the runs before them, a value changed in 50 alone reaches 51 and 52, a request the record contradicts
names the value, and the config defaults equal the parameters cells (their one documented home)."""

from __future__ import annotations

import pytest
import torch

from lmrec.cllm4rec import FinetuneConfig, PretrainConfig
from lmrec.cllm4rec.stages import finetune_config, load_tables, pretrain_config, save_tables, take_over_tables
from lmrec.defaults import notebook_defaults
from lmrec.paths import HandoffMismatch

NB50, NB51, NB52 = "50_cllm4rec_pretrain", "51_cllm4rec_finetune", "52_cllm4rec_predict"


def test_51_and_52_restate_nothing_of_the_runs_before_them():
    own50, own51, own52 = (set(notebook_defaults(nb)) for nb in (NB50, NB51, NB52))
    assert own50 & own51 == {"SEED", "DEVICE"}
    assert own52 == {"FINETUNE_RUN", "SEED", "DEVICE"}


def test_values_changed_in_50_alone_reach_51_and_52(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    run50 = {**notebook_defaults(NB50), "LM": "tiny-random", "N_LM_LAYERS": 1, "MAX_ITEMS": 5, "DEVICE": "cpu"}
    tables = {"collab.user.weight": torch.randn(3, 2)}
    folder = save_tables("pretrain", tables, run50, {"history": []}, run_dir=tmp_path / "run50")

    own51 = notebook_defaults(NB51)  # 51 as the plan runs it: its own parameters only
    pretrained = take_over_tables("pretrain", own51["PRETRAIN_RUN"], own51["SEED"])
    run51 = {**pretrained.params, **own51}
    assert finetune_config(run51).max_items == 5 and pretrained["N_LM_LAYERS"] == 1
    assert torch.equal(load_tables(pretrained)["collab.user.weight"], tables["collab.user.weight"])
    save_tables("finetune", tables, {**run51, "FT_LR": 0.5}, {"best_epoch": 1})

    own52 = notebook_defaults(NB52)
    finetuned = take_over_tables("finetune", own52["FINETUNE_RUN"], own52["SEED"])
    assert (finetuned["MAX_ITEMS"], finetuned["N_LM_LAYERS"], finetuned["FT_LR"]) == (5, 1, 0.5)
    assert finetuned.notebook == NB51 and finetuned.folder != pretrained.folder

    assert take_over_tables("pretrain", str(tmp_path / "run50"), 2023).folder == folder  # or by 50's run folder
    with pytest.raises(HandoffMismatch, match="SEED: this run 2024, 50_cllm4rec_pretrain ran with 2023"):
        take_over_tables("pretrain", str(folder), 2024)
    with pytest.raises(FileNotFoundError, match=r"no CLLM4Rec finetune tables for SEED=2025.*other values: SEED=2023"):
        take_over_tables("finetune", "auto", 2025)


def test_a_stage_folder_is_keyed_by_what_its_tables_depend_on(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    run = notebook_defaults(NB50)
    tables = {"t": torch.zeros(1)}
    a = save_tables("pretrain", tables, run, {})
    assert save_tables("pretrain", tables, {**run, "DEVICE": "cuda", "TIME_LIMIT_S": 60}, {}) == a
    assert save_tables("pretrain", tables, {**run, "MAX_ITEMS": 5}, {}) != a


def test_the_config_defaults_equal_the_parameters_cells():
    nb50 = notebook_defaults(NB50)
    assert pretrain_config(nb50) == PretrainConfig()
    assert finetune_config({**nb50, **notebook_defaults(NB51)}) == FinetuneConfig()  # 51 over what 50 recorded
