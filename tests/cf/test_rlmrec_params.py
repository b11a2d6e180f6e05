"""params/rlmrec_{yelp,amazon,steam} run what RLMRec's released code runs: every one of the 54 rows (3 datasets x
6 backbones x 3 variants) against the released configuration (tests/cf/rlmrec_released_config.yaml), switches
included, and every switch reaches the backbone's parameters."""

from functools import cache
from pathlib import Path
from unittest import mock

import pytest
import yaml

from lmrec.cf.registry import backbone_class
from lmrec.paths import REPO_ROOT
from lmrec.run.plan import build_plan, load_params

TABLE = yaml.safe_load((Path(__file__).parent / "rlmrec_released_config.yaml").read_text())["rows"]
NOTEBOOKS = {"gccf": "10_gccf", "lightgcn": "11_lightgcn", "sgl": "12_sgl", "simgcl": "13_simgcl", "dccf": "14_dccf",
             "autocf": "15_autocf"}
# released name -> lmrec parameter (the notebooks' names)
NAMES = {"embedding_size": "EMBED_DIM", "layer_num": "LAYERS", "gcn_layer": "LAYERS", "reg_weight": "REG_WEIGHT",
         "keep_rate": "KEEP_RATE", "cl_weight": "CL_WEIGHT", "eps": "EPS", "kd_weight": "KD_WEIGHT",
         "kd_temperature": "KD_TEMPERATURE", "mask_ratio": "MASK_RATIO", "recon_weight": "RECON_WEIGHT",
         "re_temperature": "RE_TEMPERATURE", "intent_num": "N_INTENTS", "gt_layer": "GT_LAYERS", "head_num": "N_HEADS",
         "seed_num": "SEED_NUM", "mask_depth": "MASK_DEPTH", "fix_steps": "FIX_STEPS", "ssl_reg": "SSL_REG",
         "lr": "LR", "batch_size": "BATCH_SIZE", "epoch": "EPOCHS", "test_step": "EVAL_EVERY", "patience": "PATIENCE"}


def _param_name(model: str, released: str) -> str:
    if released in ("temperature", "cl_temperature"):  # the view contrast's temperature
        return "CL_TEMPERATURE" if model == "dccf" else "TEMPERATURE"
    if released == "keep_rate" and model == "autocf":  # AutoCF's keepRate: a share of seed nodes, not an edge keep rate
        return "RANDOM_NODE_SHARE"
    return NAMES[released]


@cache
def _runs(dataset: str) -> dict[tuple[str, str], tuple[dict, set]]:
    """(backbone, alignment) -> (the values a run gets: the parameter set over the notebook's defaults,
    the names the parameter set gives)."""
    import lmrec.run.plan as planner

    with mock.patch.object(planner, "check_dataset_folder", lambda dataset, where: None):  # the values, not the data
        plan = build_plan(list(NOTEBOOKS.values()), load_params([REPO_ROOT / f"params/rlmrec_{dataset}"]))
    out = {}
    for run in plan:
        values = run.values
        model = next(m for m, nb in NOTEBOOKS.items() if nb == run.notebook)
        assert (model, values["ALIGNMENT"]) not in out, f"two rows for {model} {values['ALIGNMENT']} in rlmrec_{dataset}"
        out[model, values["ALIGNMENT"]] = values, set(run.params)
    return out


def test_the_table_has_every_dataset_backbone_and_variant_once():
    keys = [(r["dataset"], r["model"], r["variant"]) for r in TABLE]
    assert len(keys) == len(set(keys)) == 54
    for ds in ("yelp", "amazon", "steam"):
        assert set(_runs(ds)) == {(m, v) for m in NOTEBOOKS for v in ("none", "con", "gen")}


@pytest.mark.parametrize("row", TABLE, ids=lambda r: f"{r['dataset']}-{r['model']}-{r['variant']}")
def test_row_matches_the_released_configuration_and_behaviour(row):
    values, given = _runs(row["dataset"])[row["model"], row["variant"]]
    where = f"params/rlmrec_{row['dataset']} {NOTEBOOKS[row['model']]} ALIGNMENT={row['variant']} vs {row['file']}"
    for released, value in row["values"].items():
        name = _param_name(row["model"], released)
        assert values[name] == pytest.approx(value), f"{where}: {name}={values[name]!r}, released {released}={value!r}"
    # the switches: set to the released behaviour and read by the backbone's parameters under that name
    params = backbone_class(row["model"]).Params.from_params(values, row["model"])
    for switch, value in row["behaviour"].items():
        assert getattr(params, switch) == value, f"{where}: {switch.upper()}={getattr(params, switch)!r}, released {value!r}"
        assert switch.upper() in given, f"{where}: set {switch.upper()} explicitly (the notebook default is the paper's)"
