#!/usr/bin/env bash
# The LLM pack (issue 24, part 3) on one CUDA device in one call: `python -m lmrec pack` with params/default +
# params/pack (full coverage, pinned decoding settings) and DEVICE=cuda, written to $OUT/packs/<name>/ (not into
# the checkout), with the generation's log, then compared with each pack under packs/ (lmrec.pack.compare_packs:
# shared keys, identical answers; the keys do not depend on the device, float32 answers on a GPU may still differ in rare tokens).
#
#   bash bench/gpu_pack.sh [--smoke] [--total-s S]
#
# --smoke: a tiny pack (3 items, 2 users, 4 LLMRec users/items, short answers) on any device: what tests/bench
# runs on CPU. Needs a Jupyter kernel named lmrec (`make setup`) and the llguidance package (pinned in pyproject);
# a GPU image without them gets a clear error from the import check below.

source "$(dirname "$0")/gpu_common.sh"
"$PY" -c "import llguidance, papermill" || { echo "== llguidance/papermill missing: pip install -e . first"; exit 3; }
KERNEL=${KERNEL:-lmrec}
sets=(--set DEVICE=cuda)
if [ "$SMOKE" = 1 ]; then
  sets=(--set DEVICE=cpu --set 01_profiles.N_ITEMS=3 --set 01_profiles.N_USERS=2 --set 01_profiles.MAX_NEW_TOKENS=32
        --set 01_profiles.MAX_FAILURE_RATE=1.0 --set 20_llmrec_augment.AUG_USERS=4
        --set 20_llmrec_augment.PROFILE_USERS=2 --set 20_llmrec_augment.ATTRIBUTE_ITEMS=2
        --set 20_llmrec_augment.PAIR_ORDERS=2 --set 20_llmrec_augment.PAIR_CALIBRATION_USERS=2
        --set 20_llmrec_augment.BASE_EPOCHS=2 --set 20_llmrec_augment.MAX_FAILURE_RATE=1.0
        --set 20_llmrec_augment.LLM_MODEL=tiny-random)
fi
stage pack $(( $(remaining) - 10 )) "$PY" -m lmrec pack --outputs "$OUT/work" --dest "$OUT/packs" \
  --name "gpu-pack$([ "$SMOKE" = 1 ] && echo -smoke)" --kernel "$KERNEL" "${sets[@]}"
ls -la "$OUT/packs"/*/ 2>/dev/null
for ref in packs/*/; do
  [ -f "$ref/manifest.json" ] || continue
  "$PY" -c "import sys, json; from lmrec.pack import compare_packs; print(json.dumps(compare_packs(sys.argv[1], sys.argv[2])))" \
    "$ref" "$OUT/packs"/gpu-pack*/ | tee -a "$OUT/compare.jsonl"
done
echo "== done in $(elapsed) s; failed:${FAILED:- none}"
[ -z "$FAILED" ]
