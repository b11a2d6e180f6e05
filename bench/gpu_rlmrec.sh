#!/usr/bin/env bash
# The six graph CF backbones (plain) on RLMRec's Yelp split with params/rlmrec_yelp, each to its early stop,
# on one CUDA device, in at most 9 minutes: test metrics, best epoch, seconds per epoch -> $OUT/cf_yelp.json
# (issue 13, part 5). The same stage is part 2 of bench/gpu_all.sh.
#
#   bash bench/gpu_rlmrec.sh [--smoke] [--data DIR] [--carry DIR] [--total-s S]
#
# --data: RLMRec's Yelp folder (trn/val/tst_mat.pkl); default $CARRY/rlmrec_yelp, else ../shared/data/rlmrec_yelp.
# --carry: the folder `python bench/gpu_bench.py prepare` filled (default outputs/gpu_carry).
# --smoke: a synthetic split and a few epochs on any device (what tests/bench runs on CPU).
# $OUT: where the JSON and log.txt go (default outputs/gpu_rlmrec).

source "$(dirname "$0")/gpu_common.sh"
SMOKE_ARG=(); [ "$SMOKE" = 1 ] && SMOKE_ARG=(--smoke)
data_arg=(); [ -n "$DATA" ] && data_arg=(--data "$DATA")
[ -n "$DATA" ] || [ "$SMOKE" = 1 ] || { echo "no Yelp split: give --data or carry $CARRY/rlmrec_yelp"; exit 2; }
budget=$(( $(remaining) - 40 ))
stage cf $(( budget + 30 )) "$PY" bench/gpu_bench.py cf "${SMOKE_ARG[@]}" "${data_arg[@]}" \
  --out "$OUT/cf_yelp.json" --budget-s "$budget"
"$PY" bench/gpu_bench.py summary "$OUT"
echo "== done in $(elapsed) s; failed:${FAILED:- none}"
[ -z "$FAILED" ]
