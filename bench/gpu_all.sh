#!/usr/bin/env bash
# Everything issue 12 measures on a GPU, in one call of at most 9 minutes, in the order that keeps the most
# important results when the call is cut: (1) the CUDA tests (pytest -m gpu), (2) the six CF backbones on
# RLMRec's Yelp split to their early stop, (3) full-ranking evaluation at 11k users x 9.3k items and the local
# LLM's profile throughput at batch 1/8/64. Results under $OUT: pytest.txt, cf_yelp.json, eval.json, llm.json,
# log.txt (at most 8 files come back from the device machine).
#
#   bash bench/gpu_all.sh [--smoke] [--data DIR] [--carry DIR] [--total-s S]
#
# Before the call, here: `python bench/gpu_bench.py prepare --ml100k` fills outputs/gpu_carry (the Yelp split,
# ML-100K's raw files, SmolLM2's config and tokenizer; ~10 MB); the device call carries outputs/gpu_carry.
# --smoke: the same steps at tiny size on any device (a synthetic split, a 2-layer LLM); what tests/bench runs.

source "$(dirname "$0")/gpu_common.sh"
RESERVE_S=130  # kept for stage 3 (evaluation ~20 s, LLM ~90 s on one H100-class GPU)
SMOKE_ARG=(); [ "$SMOKE" = 1 ] && SMOKE_ARG=(--smoke)

gpu_tests=$(grep -rl --include='*.py' 'mark.gpu' tests | sort)
stage pytest 150 "$PY" -m pytest -q -rfEs -p no:cacheprovider -m gpu $gpu_tests -o addopts="" \
  > >(tee "$OUT/pytest.txt") 2>&1

data_arg=(); [ -n "$DATA" ] && data_arg=(--data "$DATA")
if [ -n "$DATA" ] || [ "$SMOKE" = 1 ]; then
  budget=$(( $(remaining) - RESERVE_S - 20 ))
  stage cf $(( budget + 30 )) "$PY" bench/gpu_bench.py cf "${SMOKE_ARG[@]}" "${data_arg[@]}" \
    --out "$OUT/cf_yelp.json" --budget-s "$budget"
else
  FAILED="$FAILED cf(no-data)"; echo "== cf skipped: no Yelp split (give --data or carry $CARRY/rlmrec_yelp)"
fi

stage eval 60 "$PY" bench/gpu_bench.py eval "${SMOKE_ARG[@]}" --out "$OUT/eval.json"

shape=$CARRY/smollm2-shape
if [ "$SMOKE" = 1 ] && [ ! -f "$shape/config.json" ]; then  # here: make what `prepare` would carry
  tmp_carry=$(mktemp -d -t gpu-carry-XXXXXX)
  stage prepare 300 "$PY" bench/gpu_bench.py prepare --carry "$tmp_carry" --data ""
  shape=$tmp_carry/smollm2-shape
fi
ml_arg=(); [ -f "$CARRY/ml-100k/items.tsv" ] && ml_arg=(--ml100k "$CARRY/ml-100k")
llm_limit=$(( $(remaining) > 60 ? $(remaining) : 60 ))
stage llm "$llm_limit" "$PY" bench/gpu_bench.py llm "${SMOKE_ARG[@]}" --shape "$shape" "${ml_arg[@]}" \
  --out "$OUT/llm.json"
[ -n "${tmp_carry:-}" ] && rm -rf "$tmp_carry"

"$PY" bench/gpu_bench.py summary "$OUT"
echo "== done in $(elapsed) s; failed:${FAILED:- none}"
[ -z "$FAILED" ]
