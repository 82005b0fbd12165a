#!/usr/bin/env bash
# MSITF checks on a CUDA machine (issue 12), called by scripts/gpu_checks.sh (GPU_CHECKS_MSITF=0 skips it), or alone:
#   1. scripts/bench_vsr.py --msitf per DCN backend (cuda extension, torchvision, torch): the published MSITF (5.59M
#      parameters) on one window of 4 x 144x180 LR -> 7 x 576x720 (Vid4's calendar size): ms per window, output fps,
#      peak memory and the DCN time share;
#   2. CUDA vs CPU: the same seeded MSITF (faithful and default) on both devices in fp32 without TF32 (max difference);
#   3. the MSITF tests (parity with the published code, options, space-time protocol, inference) on this machine;
#   4. the evidence runs of docs/msitf.md on CUDA: the space-time demo data, MSITF (pcd) and the feature-interpolation
#      ablation (repeat) trained $MSITF_ITERS iterations each (default 1500, the CPU evidence run of docs/msitf.md),
#      scored on the held-out clips on kept and interpolated frames beside the trilinear baseline
#      (scripts/eval_frame_groups.py).
# Logs and tables: $OUT/msitf (device runner) or results/gpu_checks/msitf. A few minutes on an H100/H200.
#   bash scripts/gpu_checks_msitf.sh
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_DIR="${OUT:-results/gpu_checks}/msitf"
DATA="${MSITF_DATA:-datasets/demo_stvsr}"
ITERS="${MSITF_ITERS:-1500}"
mkdir -p "$LOG_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0

echo "== MSITF 1. benchmark per DCN backend =="
for backend in cuda torchvision torch; do
  VSRKIT_DCN_BACKEND=$backend python3 scripts/bench_vsr.py --alignments none --train-modes --msitf \
    --json "$LOG_DIR/bench_msitf_$backend.json" 2>&1 | tee "$LOG_DIR/bench_msitf_$backend.log"
  [ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks_msitf: BENCHMARK ($backend) FAILED"; status=1; }
done

echo "== MSITF 2. CUDA vs CPU =="
python3 - <<'PY' 2>&1 | tee "$LOG_DIR/cuda_vs_cpu.log"
import torch
from vsrkit.archs.msitf_arch import MSITF
torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
lq = torch.rand(1, 4, 3, 20, 28, generator=torch.Generator().manual_seed(0))
worst = 0.0
for faithful in (True, False):
    torch.manual_seed(0)
    net = MSITF(num_feat=32, faithful=faithful).eval()
    with torch.no_grad():
        for m in net.modules():  # non-zero offsets, so that the DCN sampling is exercised
            if hasattr(m, "offset_head"):
                for p in m.offset_head.parameters():
                    p.normal_(0, 0.05)
        cpu = net(lq)
        gpu = net.cuda()(lq.cuda()).cpu()
    diff = (cpu - gpu).abs().max().item()
    worst = max(worst, diff)
    print(f"faithful={faithful}: max |CPU - CUDA| = {diff:.3e}")
assert worst < 1e-3, worst
PY
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks_msitf: CUDA vs CPU FAILED"; status=1; }

echo "== MSITF 3. tests =="
python3 -m pytest -q tests/archs/test_archs_msitf.py tests/archs/test_archs_swinv2.py \
  tests/models/test_models_msitf_space_time.py tests/inference/test_inference_space_time.py \
  tests/core/test_core_published_results.py 2>&1 | tee "$LOG_DIR/tests.log"
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks_msitf: TESTS FAILED"; status=1; }

echo "== MSITF 4. evidence (pcd vs repeat vs trilinear, $ITERS iterations each) =="
for variant in pcd repeat; do
  python3 vsrkit/train.py -opt options/demo/train_msitf_demo.yml --auto_resume \
    --set name=msitf_evidence_$variant network_g.feature_interp=$variant train.total_iter=$ITERS \
    train.scheduler.T_max=$ITERS val.val_freq=$ITERS logger.save_checkpoint_freq=$ITERS \
    datasets.train.root=$DATA datasets.val.root=$DATA path.experiments_root="$LOG_DIR/experiments/$variant" \
    > "$LOG_DIR/train_$variant.log" 2>&1 || { tail -n 20 "$LOG_DIR/train_$variant.log"; status=1; }
done
python3 scripts/eval_frame_groups.py --groups space_time --opt options/demo/test_msitf_demo.yml \
  --variant pcd="$LOG_DIR/experiments/pcd/models/net_g_latest.pth" \
  --variant repeat="$LOG_DIR/experiments/repeat/models/net_g_latest.pth" \
  --variant-set repeat:network_g.feature_interp=repeat --set datasets.test_demo.root=$DATA \
  --out "$LOG_DIR/evidence" 2>&1 | tee "$LOG_DIR/evidence.log"
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks_msitf: EVIDENCE FAILED"; status=1; }

echo "gpu_checks_msitf: $([ $status = 0 ] && echo ALL OK || echo FAILURES) (logs in $LOG_DIR)"
exit $status
