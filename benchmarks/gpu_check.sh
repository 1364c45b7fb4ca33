#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, in one call of well under 10 minutes, from the source
# tree with no installs (needs python3 with numpy, cupy, llvmlite, networkx, pytest; uses
# pytest-xdist and pytest-timeout when they are there):
#   1. tests/cuda (the cuda-marked runtime tests, every OpCase on cupy, the renderer tests), and
#      beside it, on the other cores, the rest of the suite on that machine's Python and numpy;
#   2. compiled results against the CPU in float64, then the benchmark table of issue 7 with the
#      device copy bandwidth and matmul rate measured in the same run (benchmarks/gpu_bench.py),
#      alone on the machine.
# Usage: bash benchmarks/gpu_check.sh [--quick] [--no-suite]
# Logs (and gpu_bench.json) go to $OUT when it is set, else to a temporary folder.
set -u -o pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export DYNGRAPH_CACHE_DIR="${DYNGRAPH_CACHE_DIR:-$(mktemp -d)}"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
LOG="${OUT:-$(mktemp -d)}"
suite=1
bench_args=()
for a in "$@"; do
    case "$a" in --no-suite) suite=0 ;; *) bench_args+=("$a") ;; esac
done
status=0
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader \
    2>/dev/null || true
"$PY" -c "import sys, cupy, numpy, dyngraph; print('python', sys.version.split()[0], '| cupy',
cupy.__version__, '| numpy', numpy.__version__, '| cuda available:', dyngraph.cuda.is_available())
from runtime import nvrtc; c = nvrtc.compiler(); print('CUDA C compiler:', c and c.version())" \
    || exit 1
xdist=()
"$PY" -c "import xdist" 2>/dev/null && xdist=(-n 8)
ptimeout=()
"$PY" -c "import pytest_timeout" 2>/dev/null && ptimeout=(--timeout 60)
suite_xdist=()
[ ${#xdist[@]} -gt 0 ] && suite_xdist=(-n 6)

if [ "$suite" = 1 ]; then
    # the CPU suite on this machine's Python/numpy, on the cores the GPU tests leave
    ( timeout 190 "$PY" -m pytest -q -p no:cacheprovider "${suite_xdist[@]}" "${ptimeout[@]}" \
        tests --ignore=tests/cuda --maxfail=30 -rfE --tb=short >"$LOG/suite.log" 2>&1
      echo "exit $?" >>"$LOG/suite.log" ) &
    suite_pid=$!
fi

echo "== tests/cuda (runtime, every OpCase on cupy, training, CUDA graphs, renderers) =="
timeout 200 "$PY" -m pytest -p no:cacheprovider -o addopts="" "${xdist[@]}" "${ptimeout[@]}" \
    -rfEs --tb=short -q tests/cuda 2>&1 | tee "$LOG/cuda_tests.log" | grep -E \
    "passed|failed|error|FAILED|ERROR" | tail -60 || status=1

if [ "$suite" = 1 ]; then
    wait "$suite_pid"
    echo "== the rest of the suite on this machine =="
    tail -40 "$LOG/suite.log" | grep -E "passed|failed|error|FAILED|ERROR|exit" | tail -25
    grep -q "^exit 0" "$LOG/suite.log" || status=1
fi

echo "== float64 check and benchmarks =="
timeout 170 "$PY" benchmarks/gpu_bench.py --json "$LOG/gpu_bench.json" "${bench_args[@]}" \
    2>&1 | tee "$LOG/bench.log" || status=1
echo "gpu_check: $(( $(date +%s) - start )) s, status $status"
exit $status
