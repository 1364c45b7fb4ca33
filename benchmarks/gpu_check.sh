#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, in one call of well under 10 minutes, from the source
# tree with no installs (needs python3 with numpy, cupy, llvmlite, networkx, pytest):
#   1. the cuda-marked tests and the renderer tests (tests/cuda/), OpCases last;
#   2. compiled results against the CPU in float64, then the benchmark table of issue 7 with the
#      device copy bandwidth and matmul rate measured in the same run (benchmarks/gpu_bench.py).
# Usage: bash benchmarks/gpu_check.sh [--quick]   (writes gpu_bench.json under $OUT when set)
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export DYNGRAPH_CACHE_DIR="${DYNGRAPH_CACHE_DIR:-$(mktemp -d)}"
PY="${PYTHON:-python3}"
status=0
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
"$PY" -c "import cupy, numpy, dyngraph; print('cupy', cupy.__version__, '| numpy', numpy.__version__,
'| cuda available:', dyngraph.cuda.is_available())" || exit 1

echo "== tests/cuda (renderer, runtime, training, CUDA graphs) =="
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -m "not slow" tests/cuda \
    --deselect tests/cuda/test_cuda_runtime.py::test_every_op_case_runs_on_cuda_like_the_cpu \
    || status=1
echo "== every OpCase on cupy vs numpy (float64) =="
timeout 150 "$PY" -m pytest -q -p no:cacheprovider -x --maxfail=20 \
    "tests/cuda/test_cuda_runtime.py::test_every_op_case_runs_on_cuda_like_the_cpu" -o addopts="" \
    2>&1 | tail -25 || status=1
echo "== float64 check and benchmarks =="
json=()
[ -n "${OUT:-}" ] && json=(--json "$OUT/gpu_bench.json")
timeout 170 "$PY" benchmarks/gpu_bench.py "${json[@]}" "$@" || status=1
echo "gpu_check: $(( $(date +%s) - start )) s, status $status"
exit $status
