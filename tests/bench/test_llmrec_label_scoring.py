"""bench/llmrec_label_scoring.py: its defaults are the LLM pack's, and its ``old`` reference scores as the scoring
before prefix sharing did (whole prompts), so the measured ratio compares like with like."""

from __future__ import annotations

import numpy as np

from lmrec.llm import tiny_random_causal_lm
from lmrec.llm.chat import ChatRequest, LocalChat
from lmrec.llmrec.choice import LabelScoreChat
from lmrec.pack import pack_params, planned_params
from tests.bench.scripts import load_bench_script

bench = load_bench_script("llmrec_label_scoring")


def test_defaults_are_the_pack_values():
    pack = planned_params(pack_params())["20_llmrec_augment"]
    args = bench.parser().parse_args([])
    assert (args.orders, args.batch_size, args.dtype) == (pack["PAIR_ORDERS"], pack["LLM_BATCH_SIZE"], pack["LLM_DTYPE"])
    assert args.chunk == 64  # generate_chat's chunk_size


def test_old_reference_and_both_new_variants_agree():
    lm, tok = tiny_random_causal_lm(hidden=32, layers=2, heads=4, seed=7)
    chat = LocalChat("tiny", model_obj=lm, tokenizer=tok, batch_size=4)
    labels = [str(j) for j in range(10)]
    reqs = [ChatRequest(messages=[{"role": "user", "content": f"History: {'film ' * h}\nCandidates: {c}"}],
                        prefill="Answer: ") for h in (1, 9) for c in ("0. a 1. b", "0. b 1. a", "0. c d e f 1. a")]
    old = bench.old_scores(LabelScoreChat(chat, labels), reqs)
    assert sorted(old) == list(range(len(reqs)))
    for share in (False, True):
        new = bench.new_scores(LabelScoreChat(chat, labels, share_prefix=share, min_prefix=4), reqs)
        np.testing.assert_allclose(np.stack([new[i] for i in range(len(reqs))]),
                                   np.stack([old[i] for i in range(len(reqs))]), atol=1e-5, rtol=0)
