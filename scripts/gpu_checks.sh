#!/usr/bin/env bash
# One command that verifies vsrkit's DCN CUDA extension on a GPU machine:
#   1. builds the extension (JIT build of vsrkit/ops/dcn/csrc into $VSRKIT_CACHE_DIR, or with GPU_CHECKS_SETUP=1
#      also `VSRKIT_CUDA_EXT=1 python setup.py build_ext --inplace`),
#   2. runs tests/ops (CPU tests + GPU parity / gradient / determinism tests vs torchvision),
#   3. runs scripts/bench_dcn.py (full table, then the deterministic backward for batch 1 and 8),
#   4. with GPU_CHECKS_SIMT=1 also tests and benchmarks the exact-fp32 SIMT GEMM variant (-DVSRKIT_DCN_FP32_SIMT),
#   5. scripts/gpu_checks_ptia.sh: PTIA benchmark per DCN backend, PTIA tests, evidence runs (GPU_CHECKS_PTIA=0 skips).
#   6. scripts/gpu_checks_msitf.sh: MSITF space-time benchmark per DCN backend, CUDA vs CPU, tests, evidence runs
#      (GPU_CHECKS_MSITF=0 skips).
#   7. RCVSR: scripts/bench_vsr.py --rcvsr per DCN backend (7 x 240x416 Y -> 480x832) and the RCVSR tests
#      (GPU_CHECKS_RCVSR=0 skips); with GPU_CHECKS_RCVSR_EVIDENCE=1 also scripts/rcvsr_evidence.sh (RCVSR with and
#      without its key-frame references on the larger generated set at LR QP 22 and 32, $RCVSR_ITERS iterations
#      each, key-frame positions scored apart).
#   8. uint8 items (item_dtype) expanded on the GPU equal the CPU's float items bitwise.
# Logs go to $OUT (if set, e.g. on the device runner) or results/gpu_checks/. Exit code: non-zero if the build or
# any test failed (the benchmark still runs after failed tests, so the numbers are always there).
#
#   bash scripts/gpu_checks.sh
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_DIR="${OUT:-results/gpu_checks}"
mkdir -p "$LOG_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export VSRKIT_CACHE_DIR="${VSRKIT_CACHE_DIR:-$PWD/build/vsrkit_cache}"

python3 - 2>/dev/null <<'PY' || { echo "gpu_checks: no CUDA device visible; nothing to check"; exit 2; }
import torch
assert torch.cuda.is_available()
print("gpu_checks:", torch.cuda.get_device_name(), "capability", torch.cuda.get_device_capability(),
      "torch", torch.__version__, "cuda", torch.version.cuda)
PY
if [ -z "${CUDA_HOME:-}" ]; then
  CUDA_HOME="$(python3 -c 'from vsrkit.ops.dcn.backend import cuda_home; print(cuda_home() or "")')"
  [ -n "$CUDA_HOME" ] && export CUDA_HOME
fi
if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
  TORCH_CUDA_ARCH_LIST="$(python3 -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')"
  export TORCH_CUDA_ARCH_LIST
fi
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
echo "gpu_checks: CUDA_HOME=${CUDA_HOME:-?} TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS"
status=0

echo "== 1. build =="
start=$(date +%s)
if ! python3 -c "from vsrkit.ops.dcn import backend; m = backend.jit_build(verbose=True); print('built', m.__file__)" \
    > "$LOG_DIR/build.log" 2>&1; then
  tail -n 60 "$LOG_DIR/build.log"
  echo "gpu_checks: BUILD FAILED (log: $LOG_DIR/build.log)"
  exit 1
fi
echo "JIT build ok in $(( $(date +%s) - start )) s: $(tail -n 1 "$LOG_DIR/build.log")"
if [ "${GPU_CHECKS_SETUP:-0}" = "1" ]; then
  if VSRKIT_CUDA_EXT=1 python3 setup.py build_ext --inplace > "$LOG_DIR/build_setup.log" 2>&1; then
    echo "setup.py build_ext --inplace ok (vsrkit/ops/dcn/_ext*.so is now preferred over the JIT build)"
  else
    tail -n 40 "$LOG_DIR/build_setup.log"; echo "gpu_checks: setup.py build FAILED"; status=1
  fi
fi

echo "== 2. tests =="
python3 -m pytest tests/ops -q -m "not nvcc" -ra 2>&1 | tee "$LOG_DIR/tests.log"
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks: TESTS FAILED"; status=1; }

echo "== 3. benchmark =="
python3 scripts/bench_dcn.py 2>&1 | tee "$LOG_DIR/bench.log"
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks: BENCHMARK FAILED"; status=1; }
python3 scripts/bench_dcn.py --deterministic --batches 1 8 --dtypes fp32 bf16 2>&1 | tee "$LOG_DIR/bench_deterministic.log"
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks: DETERMINISTIC BENCHMARK FAILED"; status=1; }

if [ "${GPU_CHECKS_SIMT:-0}" = "1" ]; then
  # Optional: the exact-fp32 SIMT GEMM variant (separate cache), for comparing against the 3xTF32 default.
  echo "== 4. fp32 SIMT variant =="
  if VSRKIT_CACHE_DIR="$VSRKIT_CACHE_DIR/simt" VSRKIT_DCN_NVCC_FLAGS=-DVSRKIT_DCN_FP32_SIMT \
      python3 -m pytest tests/ops/test_ops_dcn_cuda.py -q -k "fp32" > "$LOG_DIR/tests_simt.log" 2>&1; then
    echo "SIMT variant tests ok"
  else
    tail -n 30 "$LOG_DIR/tests_simt.log"; echo "gpu_checks: SIMT VARIANT TESTS FAILED"; status=1
  fi
  VSRKIT_CACHE_DIR="$VSRKIT_CACHE_DIR/simt" VSRKIT_DCN_NVCC_FLAGS=-DVSRKIT_DCN_FP32_SIMT \
    python3 scripts/bench_dcn.py --dtypes fp32 2>&1 | tee "$LOG_DIR/bench_simt.log"
fi

if [ "${GPU_CHECKS_PTIA:-1}" = "1" ]; then  # PTIA benchmark, tests and evidence runs (GPU_CHECKS_PTIA=0 skips)
  echo "== 5. PTIA (scripts/gpu_checks_ptia.sh) =="
  OUT="$LOG_DIR" bash scripts/gpu_checks_ptia.sh || status=1
fi

if [ "${GPU_CHECKS_MSITF:-1}" = "1" ]; then  # MSITF benchmark, CUDA vs CPU, tests, evidence (GPU_CHECKS_MSITF=0 skips)
  echo "== 6. MSITF (scripts/gpu_checks_msitf.sh) =="
  OUT="$LOG_DIR" bash scripts/gpu_checks_msitf.sh || status=1
fi

if [ "${GPU_CHECKS_RCVSR:-1}" = "1" ]; then  # RCVSR benchmark per DCN backend and tests (GPU_CHECKS_RCVSR=0 skips)
  echo "== 7. RCVSR: bench_vsr.py --rcvsr (7 x 240x416 Y -> 480x832) per DCN backend, then its tests =="
  for backend in cuda torchvision torch; do
    VSRKIT_DCN_BACKEND=$backend python3 scripts/bench_vsr.py --alignments none --train-modes --rcvsr \
      --json "$LOG_DIR/bench_rcvsr_$backend.json" 2>&1 | tee "$LOG_DIR/bench_rcvsr_$backend.log"
    [ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks: RCVSR BENCHMARK ($backend) FAILED"; status=1; }
  done
  python3 -m pytest -q tests/archs/test_archs_rcvsr.py tests/options/test_options_rcvsr.py \
    tests/inference/test_inference_space_time.py -k "rcvsr or RCVSR" 2>&1 | tee "$LOG_DIR/tests_rcvsr.log"
  [ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks: RCVSR TESTS FAILED"; status=1; }
  if [ "${GPU_CHECKS_RCVSR_EVIDENCE:-0}" = "1" ]; then  # refs vs no refs vs bicubic per QP in $RCVSR_QPS
    OUT="$LOG_DIR" bash scripts/rcvsr_evidence.sh || status=1
  fi
fi

echo "== 8. item_dtype: uint8 items expanded on the GPU, bitwise the CPU's float items =="
python3 -m pytest -q tests/engine/test_engine_item_dtype.py 2>&1 | tee "$LOG_DIR/tests_item_dtype.log"
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks: ITEM_DTYPE TESTS FAILED"; status=1; }

echo "gpu_checks: $([ $status = 0 ] && echo ALL OK || echo FAILURES) (logs in $LOG_DIR)"
exit $status
