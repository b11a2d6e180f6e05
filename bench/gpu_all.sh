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
# --smoke: tiny sizes on any device (CPU here), the same code path; what tests/bench runs.

source "$(dirname "$0")/gpu_common.sh"
RESERVE_S=130  # stage 3 (evaluation ~20 s, LLM ~90 s on one H100-class GPU)

gpu_tests=$(grep -rl --include='*.py' 'mark.gpu' tests | sort)
stage pytest 150 "$PY" -m pytest -q -rfEs -p no:cacheprovider -m gpu $gpu_tests -o addopts="" \
  > >(tee "$OUT/pytest.txt") 2>&1

if [ "$SMOKE" = 1 ]; then
  stage cf 300 "$PY" bench/gpu_bench.py cf --smoke --out "$OUT/cf_yelp.json" --budget-s 60
  stage eval 120 "$PY" bench/gpu_bench.py eval --smoke --out "$OUT/eval.json" --repeats 1
  shape=$CARRY/smollm2-shape
  if [ ! -f "$shape/config.json" ]; then  # SmolLM2's config + tokenizer, as `prepare` carries them
    tmp_carry=$(mktemp -d -t gpu-carry-XXXXXX)
    stage prepare 300 "$PY" bench/gpu_bench.py prepare --carry "$tmp_carry" --data ""
    shape=$tmp_carry/smollm2-shape
  fi
  stage llm 300 "$PY" bench/gpu_bench.py llm --smoke --model shape --shape "$shape" --dtype float32 \
    --out "$OUT/llm.json"
  [ -n "${tmp_carry:-}" ] && rm -rf "$tmp_carry"
else
  if [ -n "$DATA" ]; then
    budget=$(( $(remaining) - RESERVE_S - 20 ))
    stage cf $(( budget + 30 )) "$PY" bench/gpu_bench.py cf --data "$DATA" --out "$OUT/cf_yelp.json" --budget-s "$budget"
  else
    FAILED="$FAILED cf(no-data)"; echo "== cf skipped: no Yelp split (give --data or carry $CARRY/rlmrec_yelp)"
  fi
  stage eval 60 "$PY" bench/gpu_bench.py eval --out "$OUT/eval.json"
  ml=(); [ -f "$CARRY/ml-100k/items.tsv" ] && ml=(--ml100k "$CARRY/ml-100k")
  stage llm $(( $(remaining) > 30 ? $(remaining) : 30 )) "$PY" bench/gpu_bench.py llm --shape "$CARRY/smollm2-shape" \
    "${ml[@]}" --out "$OUT/llm.json"
fi
"$PY" bench/gpu_bench.py summary "$OUT"
echo "== done in $(elapsed) s; failed:${FAILED:- none}"
[ -z "$FAILED" ]
