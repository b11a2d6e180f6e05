"""Bench scripts that measure the main job's, the pack's or a notebook's settings read them from there (params/ and
the notebooks' parameters cells) instead of typing copies: each script's defaults equal those values."""

from __future__ import annotations

from lmrec.defaults import notebook_defaults
from lmrec.paths import params_dir
from lmrec.run.plan import load_params

from .scripts import load_bench_script


def given(notebook: str, *sets: str) -> dict:
    """A notebook's defaults under the ``notebooks`` values of the params sets (no grid, no seeds: notebook 01's case)."""
    params = load_params([params_dir() / s for s in sets])
    return {**notebook_defaults(notebook), **params["notebooks"][notebook]}


def test_llm_throughput_defaults_to_notebook_01_in_the_main_job():
    module = load_bench_script("llm_throughput")
    want = given("01_profiles", "default")
    args = module.parser().parse_args([])
    assert args.max_new_tokens == want["MAX_NEW_TOKENS"] and args.max_repairs == want["MAX_REPAIRS"]
    assert args.batch == [want["BATCH_SIZE"]] and args.dtype == [want["DTYPE"]] and args.engine == [want["ENGINE"]]
    assert args.no_constrain is not want["CONSTRAIN"]
    assert args.words == [want["ITEM_SUMMARY_WORDS"], want["ITEM_REASONING_WORDS"], want["USER_SUMMARY_WORDS"],
                          want["USER_REASONING_WORDS"]]
    job = module.main_job_profiles()
    assert {k: job[k] for k in want} == want


def test_llm_decode_builds_the_packs_requests():
    module = load_bench_script("llm_decode")
    want = given("01_profiles", "default", "pack")
    assert {k: v for k, v in module.pack_profiles().items() if k in want} == want
    assert module.parser().parse_args([]).batch == want["BATCH_SIZE"]


def test_recformer_step_cost_varies_only_its_settings_over_notebook_31():
    module = load_bench_script("recformer_step_cost")
    nb = notebook_defaults("31_recformer_finetune")
    assert module.SETTINGS[0] == (nb["MAX_TOKEN_NUM"], nb["MAX_ATTR_LENGTH"], nb["ATTENTION_IMPL"])
    cfg = module.config(512, 32, "longformer")
    assert (cfg.max_token_num, cfg.max_attr_length, cfg.attention_impl) == (512, 32, "longformer")
    assert (cfg.max_attr_num, cfg.max_item_embeddings, cfg.attention_window, cfg.temperature) == (
        nb["MAX_ATTR_NUM"], nb["MAX_ITEM_EMBEDDINGS"], nb["ATTENTION_WINDOW"], nb["TEMPERATURE"])


def test_learn_scientific_trains_each_stage_with_its_notebooks_schedule():
    module = load_bench_script("learn_scientific")
    for stage, notebook in (("pretrain", "40_learn_pretrain"), ("finetune", "41_learn_finetune")):
        nb = notebook_defaults(notebook)
        cfg = module.stage_config(stage, 3, 64, 7, False)
        assert (cfg.stage, cfg.epochs, cfg.batch_size, cfg.seed, cfg.mask_history) == (stage, 3, 64, 7, False)
        assert (cfg.lr, cfg.warmup_epochs, cfg.samples_per_user, cfg.eval_every, cfg.patience) == (
            nb["LR"], nb["WARMUP_EPOCHS"], nb["SAMPLES_PER_USER"], nb["EVAL_EVERY"], nb["PATIENCE"]), stage


def test_llmrec_position_bias_shows_notebook_20s_candidates_and_history():
    module = load_bench_script("llmrec_position_bias")
    nb = notebook_defaults("20_llmrec_augment")
    args = module.parser().parse_args([])
    assert (args.k, args.max_history) == (nb["N_CANDIDATES"], nb["MAX_HISTORY"])


def test_kernel_threads_trains_lightgcn_at_notebook_20s_base_width():
    module = load_bench_script("kernel_threads")
    lightgcn = module.WORKLOAD.split('if kind == "lightgcn":\n', 1)[1].split("    t0, c0", 1)[0]
    scope: dict = {}
    exec("import torch\n" + "\n".join(line[4:] for line in lightgcn.splitlines()), scope)
    assert (scope["spec"].dim, scope["spec"].layers) == (notebook_defaults("20_llmrec_augment")["BASE_DIM"], 2)
    nb11 = notebook_defaults("11_lightgcn")
    assert scope["ds"].name == nb11["DATASET"] and scope["ds"].split_protocol == nb11["SPLIT"]


def test_recformer_scientific_full_finetunes_as_notebook_31_on_scientific():
    module = load_bench_script("recformer_scientific_full")
    nb30, nb31 = notebook_defaults("30_recformer_pretrain"), notebook_defaults("31_recformer_finetune")
    scientific = load_params([params_dir() / "scientific"])["notebooks"]["31_recformer_finetune"]
    cfg = module.config_for(512, "longformer")
    assert (cfg.max_attr_num, cfg.max_attr_length, cfg.max_item_embeddings, cfg.attention_window, cfg.temperature) == (
        nb31["MAX_ATTR_NUM"], scientific["MAX_ATTR_LENGTH"], nb31["MAX_ITEM_EMBEDDINGS"], nb31["ATTENTION_WINDOW"],
        nb31["TEMPERATURE"])
    args = module.parser().parse_args(["finetune"])
    assert (args.batch_size, args.pretrain_batch_size, args.lr, args.eval_batch_size) == (
        nb31["BATCH_SIZE"], nb30["BATCH_SIZE"], nb31["LR"], nb31["EVAL_BATCH_SIZE"])
    assert (args.stage1, args.stage2, args.patience1, args.patience2, args.attr_len) == (
        scientific["STAGE1_EPOCHS"], scientific["STAGE2_EPOCHS"], scientific["PATIENCE1"], scientific["PATIENCE2"],
        scientific["MAX_ATTR_LENGTH"])
