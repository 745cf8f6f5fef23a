#!/usr/bin/env bash
# benchmarks/gpu_check.sh - xpnet on an NVIDIA GPU, in one prepared run of under 8 minutes.
#
#   bash benchmarks/gpu_check.sh OUTPUT_DIR
#
# For a machine with an NVIDIA GPU where CuPy and PyTorch (with CUDA) are installed and nothing can
# be downloaded. It uses the xpnet of this checkout (the repository root goes first on PYTHONPATH).
# Steps, each under a time limit (the limits add up to 7 min 40 s):
#   1. nvidia-smi                                          -> OUTPUT_DIR/nvidia-smi.txt
#   2. XPNET_BACKEND=cupy python -m pytest -q --maxfail=50  -> OUTPUT_DIR/tests-cupy.{log,xml}     (190 s)
#   3. XPNET_BACKEND=torch XPNET_DEVICE=cuda python -m pytest -q --maxfail=50
#                                                          -> OUTPUT_DIR/tests-torch-cuda.{log,xml} (190 s)
#      (skipped, and said so, when torch sees no CUDA device: the CPU rehearsal)
#   4. python benchmarks/run.py --backend cupy --only W2,W3: W2 and W3 with xpnet on CuPy against
#      PyTorch CUDA and the GEMM bound on CuPy, every timer stopped after the device is synchronised
#      (cupy.cuda.Device().synchronize(), torch.cuda.synchronize())
#                                                          -> OUTPUT_DIR/bench/results.{json,md},
#                                                             OUTPUT_DIR/bench.log               (80 s)
#   5. python benchmarks/sync_count.py: device->host syncs per step and per epoch of fit, counted on
#      the CuPy stand-in of tests/standin (CuPy has no such counters)   -> OUTPUT_DIR/syncs.md  (30 s)
# Everything printed also goes to OUTPUT_DIR/gpu_check.log; OUTPUT_DIR/summary.txt has one line per
# step. The benchmark table is printed at the end: that is what goes into benchmarks/RESULTS-gpu.md.
#
# Exit status: 0 when every step passed, or when there is no GPU (it then prints a line saying
# "skipped" and why: nvidia-smi is not found, or CuPy is not importable or sees no CUDA device);
# 1 when a step failed; 2 for a usage error (no OUTPUT_DIR); 3 when a Python package xpnet needs is
# missing on the GPU machine.
#
# Environment:
#   PYTHON        the interpreter (default: python3)
#   XPNET_WHEELS  a folder of wheels to install first, offline, into OUTPUT_DIR/site (pip --no-index
#                 --no-deps --target), for packages the machine lacks, e.g. array-api-compat
#   GPU_CHECK_TEST_LIMIT, GPU_CHECK_BENCH_LIMIT   seconds per test run / benchmark (190 / 80); the
#                 suite takes ~50 s on NumPy on 2 CPU cores, the benchmark ~45 s on a GPU (estimate)
#   GPU_CHECK_PYTEST_ARGS   extra pytest arguments (the CPU rehearsal selects a few test files)
#   GPU_CHECK_BENCH_ARGS    extra benchmark arguments (the CPU rehearsal adds --quick --tiny)
#   CUPY_CACHE_DIR          CuPy's kernel cache (default ~/.cupy/kernel_cache): kernels compile on
#                 first use, so the first test run pays for them and the benchmark warms up first
#
# Rehearsal on a machine without a GPU: `nox -s gpu_rehearsal` runs this script end to end against
# the CuPy stand-in (tests/standin), from a virtualenv without array-api-compat, carried as a wheel.
set -uo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: bash benchmarks/gpu_check.sh OUTPUT_DIR" >&2
    echo "  runs the test suite on CuPy and on PyTorch CUDA, then benchmarks W2 and W3 against" >&2
    echo "  PyTorch CUDA, writing logs and results under OUTPUT_DIR (see the header of this script)" >&2
    exit 2
fi

OUT=$1
SCRIPT_DIR=.
case ${BASH_SOURCE[0]} in */*) SCRIPT_DIR=${BASH_SOURCE[0]%/*} ;; esac
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
PYTHON=${PYTHON:-python3}
TEST_LIMIT=${GPU_CHECK_TEST_LIMIT:-190}
BENCH_LIMIT=${GPU_CHECK_BENCH_LIMIT:-80}
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/gpu_check.log
: >"$LOG"

say() {  # bash builtins only: the skip paths run with next to nothing on the PATH
    echo "gpu_check: $*"
    echo "gpu_check: $*" >>"$LOG"
}

if ! command -v nvidia-smi >/dev/null 2>&1; then
    say "skipped: no NVIDIA GPU here (nvidia-smi not found); nothing was run"
    exit 0
fi
if ! "$PYTHON" -c "import cupy, sys; sys.exit(0 if cupy.cuda.runtime.getDeviceCount() > 0 else 1)" \
        >/dev/null 2>&1; then
    say "skipped: CuPy is not importable with $PYTHON, or it sees no CUDA device; nothing was run"
    exit 0
fi

cd "$ROOT" || exit 1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if [ -n "${XPNET_WHEELS:-}" ]; then
    say "installing the wheels of $XPNET_WHEELS into $OUT/site (offline)"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$OUT/site" \
        "$XPNET_WHEELS"/*.whl 2>&1 | tee -a "$LOG"
    export PYTHONPATH="$ROOT:$OUT/site${PYTHONPATH#"$ROOT"}"
fi
if ! "$PYTHON" -c "import numpy, array_api_compat, pytest, torch" >>"$LOG" 2>&1; then
    say "error: xpnet's tests need numpy, array-api-compat, pytest and torch; missing here (see $LOG)."
    say "carry their wheels and set XPNET_WHEELS to their folder"
    exit 3
fi

limited() {  # limited SECONDS COMMAND...: run with a time limit when coreutils' timeout is there
    local seconds=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout --kill-after=10 "$seconds" "$@"
    else
        "$@"
    fi
}

START=$SECONDS
FAILED=0
: >"$OUT/summary.txt"
step() {  # step NAME LOGFILE SECONDS COMMAND...
    local name=$1 logfile=$2 seconds=$3 status
    shift 3
    say "$name: $*"
    limited "$seconds" "$@" 2>&1 | tee "$OUT/$logfile" | tee -a "$LOG" >/dev/null
    status=${PIPESTATUS[0]}
    tail -n 3 "$OUT/$logfile"
    if [ "$status" -eq 0 ]; then
        echo "$name: passed ($((SECONDS - START)) s so far)" >>"$OUT/summary.txt"
    else
        [ "$status" -eq 124 ] && say "$name: stopped at its limit of $seconds s"
        echo "$name: FAILED with status $status ($((SECONDS - START)) s so far)" >>"$OUT/summary.txt"
        FAILED=1
    fi
}

nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
head -n 12 "$OUT/nvidia-smi.txt" | tee -a "$LOG"
"$PYTHON" -c "import cupy, torch, numpy; print('cupy', cupy.__version__, '| torch', torch.__version__, \
'| numpy', numpy.__version__, '| torch sees CUDA:', torch.cuda.is_available())" 2>&1 | tee -a "$LOG"

# shellcheck disable=SC2086  # the extra arguments are meant to split
step "tests on cupy" tests-cupy.log "$TEST_LIMIT" \
    env XPNET_BACKEND=cupy "$PYTHON" -m pytest -q --maxfail=50 -p no:cacheprovider \
    --junitxml="$OUT/tests-cupy.xml" ${GPU_CHECK_PYTEST_ARGS:-}
if "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    step "tests on torch cuda" tests-torch-cuda.log "$TEST_LIMIT" \
        env XPNET_BACKEND=torch XPNET_DEVICE=cuda "$PYTHON" -m pytest -q --maxfail=50 \
        -p no:cacheprovider --junitxml="$OUT/tests-torch-cuda.xml" ${GPU_CHECK_PYTEST_ARGS:-}
else
    say "tests on torch cuda: skipped, torch sees no CUDA device"
    echo "tests on torch cuda: skipped (torch sees no CUDA device)" >>"$OUT/summary.txt"
fi
# shellcheck disable=SC2086
step "benchmark W2, W3 on cupy" bench.log "$BENCH_LIMIT" \
    "$PYTHON" benchmarks/run.py --backend cupy --only W2,W3 --out "$OUT/bench" ${GPU_CHECK_BENCH_ARGS:-}
step "syncs per step and per epoch (CuPy stand-in)" syncs.md 60 \
    "$PYTHON" benchmarks/sync_count.py

echo
if [ -f "$OUT/bench/results.md" ]; then
    tee -a "$LOG" <"$OUT/bench/results.md"
fi
echo
say "summary ($((SECONDS - START)) s):"
tee -a "$LOG" <"$OUT/summary.txt"
exit "$FAILED"
