# Shared prelude of bench/gpu_all.sh and bench/gpu_rlmrec.sh (sourced, not run): options, the Python to use,
# the output folder, the clock. Sets REPO, OUT, SMOKE, CARRY, DATA, PY, START, TOTAL_S and the functions
# elapsed, remaining, stage.
#
# Python: $PYTHON if set, else the project's .venv (after `make setup`), else the machine's python3. The GPU
# machines lent here reach no package registry and their image's python3 already holds a CUDA PyTorch and the
# libraries lmrec imports, so nothing is installed there: lmrec is imported from lib/ (PYTHONPATH).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 2
SMOKE=0
CARRY=outputs/gpu_carry
DATA=""
TOTAL_S=${GPU_TOTAL_S:-540}   # 9 minutes: the whole call, stages included
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --carry) CARRY=$2; shift ;;
    --data) DATA=$2; shift ;;
    --total-s) TOTAL_S=$2; shift ;;
    -h|--help) sed -n '2,/^$/p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-$REPO/outputs/$(basename "$0" .sh)}
mkdir -p "$OUT"
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x "$REPO/.venv/bin/python" ]; then PY=$REPO/.venv/bin/python
else PY=python3; fi
export PYTHONPATH="$REPO/lib${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# the smoke's tensors are tiny: one thread each is fastest, above all on a busy CPU
[ "$SMOKE" = 1 ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# the library's own products (caches) go to a scratch folder, never into the checkout
export LMREC_OUTPUTS=${LMREC_OUTPUTS:-$(mktemp -d -t lmrec-gpu-XXXXXX)}
if [ -z "$DATA" ] && [ "$SMOKE" = 0 ]; then
  for d in "$CARRY/rlmrec_yelp" "$REPO/../shared/data/rlmrec_yelp"; do
    [ -f "$d/trn_mat.pkl" ] && { DATA=$d; break; }
  done
fi
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
remaining() { echo $(( TOTAL_S - $(elapsed) )); }
FAILED=""
# stage NAME SECONDS COMMAND...: run under a time limit, note a failure, go on with the next stage
stage() {
  local name=$1 limit=$2; shift 2
  echo "== [$(elapsed) s] $name (limit ${limit} s): $*"
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  [ $rc -ne 0 ] && { FAILED="$FAILED $name(rc=$rc)"; echo "== $name failed with rc $rc"; }
  return 0
}
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "== $(basename "$0") smoke=$SMOKE out=$OUT python=$PY data=${DATA:-none} carry=$CARRY budget=${TOTAL_S}s"
"$PY" - <<'PY' || { echo "== the Python above cannot import what lmrec needs; see the error" ; exit 3; }
import sys, torch, transformers, scipy, pandas, yaml, tqdm, lmrec
print(f"python {sys.version.split()[0]} torch {torch.__version__} (CUDA {torch.version.cuda}, available "
      f"{torch.cuda.is_available()}{', ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}) "
      f"transformers {transformers.__version__} lmrec from {lmrec.__file__}")
PY
