"""Notebook 41 starts from the towers 40 handed on and reads 40's data, content LLM and tower settings from the
record of 40's run: it restates none, a value changed in 40 alone reaches it, and the library defaults equal the
parameters cells of 40/41 (their one documented home)."""

from __future__ import annotations

import pytest
import torch

from lmrec.defaults import notebook_defaults
from lmrec.learn import (
    ContentConfig,
    LearnModel,
    LearnTrainConfig,
    TowerConfig,
    load_towers,
    pretrained_towers,
    save_towers,
)
from lmrec.learn.pipeline import content_config, pretrained_key, tower_config, train_config
from lmrec.paths import HandoffMismatch, stage_dir

# what 40's towers are made of: the data, the content vectors and the tower shape
PRODUCT_OF_40 = {"DATASET", "SPLIT", "MIN_RATING", "LLM", "LLM_MAX_LENGTH", "LLM_BATCH_SIZE", "LLM_DTYPE",
                 "CONTENT_POSTPROCESS", "HIDDEN_DIM", "LAYERS", "N_HEADS", "OUTPUT_DIM", "DROPOUT", "MAX_LEN",
                 "POSITION_EMBEDDINGS", "MASK_HISTORY"}  # MASK_HISTORY: the protocol that selected the towers' epoch


def test_41_restates_nothing_40_made_its_towers_with():
    assert PRODUCT_OF_40 <= set(notebook_defaults("40_learn_pretrain"))
    assert not PRODUCT_OF_40 & set(notebook_defaults("41_learn_finetune"))


def test_a_tower_value_changed_in_40_alone_reaches_41(tmp_path, monkeypatch):
    monkeypatch.setenv("LMREC_OUTPUTS", str(tmp_path))
    run40 = {**notebook_defaults("40_learn_pretrain"), "LLM": "tiny-random", "LAYERS": 1, "HIDDEN_DIM": 8,
             "OUTPUT_DIM": 4, "DEVICE": "cpu"}
    torch.manual_seed(0)
    content = torch.randn(6, 5)
    made = LearnModel(content, tower_config(run40, 5))
    key = pretrained_key(run40, content_config(run40, "cpu"), tower_config(run40, 5))
    path = save_towers(made.tower.state_dict(), key, run40, {"best_epoch": 1}, run_dir=tmp_path / "run40")
    assert path.parent == stage_dir("learn", "pretrained", key)

    own = notebook_defaults("41_learn_finetune")  # 41 as the plan runs it: its own parameters only
    towers = pretrained_towers(own["PRETRAIN_RUN"], own["SEED"])
    cfg = tower_config(towers, 5)
    assert (cfg.n_layers, cfg.hidden_dim, cfg.output_dim) == (1, 8, 4) and towers["LLM"] == "tiny-random"
    model = LearnModel(content, cfg)
    model.tower.load_state_dict(load_towers(towers)["state_dict"])
    assert all(torch.equal(a, b) for a, b in zip(model.tower.state_dict().values(), made.tower.state_dict().values(),
                                                 strict=True))
    assert pretrained_towers(str(tmp_path / "run40"), own["SEED"]).folder == path.parent  # or by 40's run folder
    with pytest.raises(HandoffMismatch, match="SEED: this run 2024, 40_learn_pretrain ran with 2023"):
        pretrained_towers(str(path.parent), 2024)
    with pytest.raises(FileNotFoundError, match=r"SEED=2024; run notebooks/40_learn_pretrain.*other values: SEED=2023"):
        pretrained_towers("auto", 2024)


def test_the_library_defaults_equal_the_parameters_cells():
    nb40, nb41 = notebook_defaults("40_learn_pretrain"), notebook_defaults("41_learn_finetune")
    assert content_config(nb40, "cpu") == ContentConfig()
    assert tower_config(nb40, 7) == TowerConfig(input_dim=7)
    for stage, params in (("pretrain", nb40), ("finetune", {**nb40, **nb41})):  # 41: its own over 40's record
        built = train_config(stage, params)  # the stages' own epochs, lr, warm-up and 40's protocol have no library default
        assert built == LearnTrainConfig(stage=stage, epochs=built.epochs, lr=built.lr, warmup_epochs=built.warmup_epochs,
                                         mask_history=built.mask_history)
