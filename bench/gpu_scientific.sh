#!/usr/bin/env bash
# The Scientific table (issue 23) on one CUDA device in at most 9 minutes: MostPop (both protocols), SASRec over
# seeds 2023/2024/2025 with params/scientific (test with the history not masked, as the published numbers, and
# masked), then LEARN pretrained + finetuned over the same seeds from carried item vectors. One JSON record per
# row and seed under $OUT (what bench/scientific.py collect --records $OUT reads), log.txt beside them.
#
#   bash bench/gpu_scientific.sh [--smoke] [--data DIR] [--carry DIR] [--total-s S]
#
# --data: Recformer's Scientific folder (smap.json ...; default $CARRY/recformer_scientific_full, else
#   ../shared/data/recformer_scientific_full). --carry: the folder that travels to the device (outputs/gpu_carry):
#   copy the split there, and LEARN's item vectors (`python bench/scientific.py learn-vectors` here writes
#   outputs/scientific_bench/learn_item_vectors.npy, 5,327 x 576 float32, 12 MB; the device machine has no LLM
#   weights): without them the LEARN stage is skipped and says so. Recformer is not in this script: its encoder
#   (MiniLM in the Longformer layout, notebook 30) needs weights that are not carried (see bench/results/scientific.md).
# --smoke: a tiny synthetic folder and tiny models on any device (what tests/bench runs on CPU).

source "$(dirname "$0")/gpu_common.sh"
SMOKE_ARG=(); [ "$SMOKE" = 1 ] && SMOKE_ARG=(--smoke)
if [ "$SMOKE" = 0 ] && [ ! -f "$DATA/smap.json" ]; then  # gpu_common looks for the Yelp split: find Scientific
  DATA=""
  for d in "$CARRY/recformer_scientific_full" "$REPO/../shared/data/recformer_scientific_full"; do
    [ -f "$d/smap.json" ] && { DATA=$d; break; }
  done
  [ -n "$DATA" ] || { echo "no Scientific folder: give --data or carry $CARRY/recformer_scientific_full"; exit 2; }
fi
data_arg=(); [ -n "$DATA" ] && [ "$SMOKE" = 0 ] && data_arg=(--data "$DATA")
SEEDS=(2023 2024 2025)
[ "$SMOKE" = 1 ] && SEEDS=(2023 2024)  # two seeds still give an interval

stage mostpop 60 "$PY" bench/scientific.py mostpop "${SMOKE_ARG[@]}" "${data_arg[@]}" --out-dir "$OUT"
for seed in "${SEEDS[@]}"; do  # ~1/4 of what is left per seed, so LEARN keeps time
  stage "sasrec_$seed" $(( $(remaining) / 4 )) "$PY" bench/scientific.py sasrec "${SMOKE_ARG[@]}" "${data_arg[@]}" \
    --seed "$seed" --out-dir "$OUT"
done

vectors=$CARRY/learn_item_vectors.npy
learn_args=(--hidden 64 --layers 2 --output-dim 64 --pretrain-epochs 16 --finetune-epochs 40 --batch-size 128)
if [ "$SMOKE" = 1 ]; then
  vectors=$OUT/smoke_vectors.npy
  "$PY" -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(0).normal(size=(30, 24)).astype('float32'))" "$vectors"
  learn_args=(--data "$OUT/smoke_data" --hidden 16 --layers 1 --output-dim 16 --pretrain-epochs 2 --finetune-epochs 2 --batch-size 16)
elif [ -n "$DATA" ]; then
  learn_args+=(--data "$DATA")
fi
if [ -f "$vectors" ]; then
  for seed in "${SEEDS[@]}"; do
    stage "learn_$seed" $(( $(remaining) / 2 > 20 ? $(remaining) / 2 : 20 )) "$PY" bench/learn_scientific.py \
      "${learn_args[@]}" --vectors "$vectors" --seed "$seed" --records-dir "$OUT" --out "$OUT/learn_run_$seed.json"
  done
else
  FAILED="$FAILED learn(no-vectors)"; echo "== LEARN skipped: no item vectors at $vectors (bench/scientific.py learn-vectors)"
fi
"$PY" bench/scientific.py collect --records "$OUT" --outputs "$OUT/none" --out "$OUT/scientific.json"
echo "== done in $(elapsed) s; failed:${FAILED:- none}"
[ -z "$FAILED" ]
