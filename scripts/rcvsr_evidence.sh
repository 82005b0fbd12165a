#!/usr/bin/env bash
# RCVSR evidence of docs/rcvsr.md on any device: builds the larger generated set (48 training sequences of 17 frames
# at 128x128, 6 held out; LR QP $RCVSR_QP, default 32, key frames at QP + 5; x265 with the HM LDP QP cascade, or HM),
# then trains the demo's compact RCVSR with its key-frame references and without them (ablate_refs) for $RCVSR_ITERS
# iterations each (default 3000, pixel-centre skip) and prints the held-out Y-PSNR of both beside bicubic.
# Called by scripts/gpu_checks.sh with GPU_CHECKS_RCVSR_EVIDENCE=1, or alone:
#   RCVSR_ITERS=3000 RCVSR_QP=22 bash scripts/rcvsr_evidence.sh
# Logs: $OUT/rcvsr_evidence (device runner) or results/rcvsr_evidence. About 45 min on 2 CPU cores.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_DIR="${OUT:-results}/rcvsr_evidence"
QP="${RCVSR_QP:-32}"
KEY_QP=$((QP + 5))
DATA="${RCVSR_DATA:-datasets/rcvsr_evidence_qp$QP}"
ITERS="${RCVSR_ITERS:-3000}"
mkdir -p "$LOG_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
SET="train.total_iter=$ITERS train.scheduler.T_max=$ITERS val.val_freq=$ITERS logger.save_checkpoint_freq=$ITERS
  network_g.image_align_corners=false demo_data.root=$DATA demo_data.num_train_clips=48 demo_data.num_val_clips=6
  demo_data.num_frames=17 demo_data.hr_size=128 demo_data.qp=$QP datasets.train.dataroot_gt=$DATA/train/raw
  datasets.train.dataroot_lq=$DATA/train/LR_QP$QP datasets.train.dataroot_key=$DATA/train/KEY_QP$KEY_QP
  datasets.val.dataroot_gt=$DATA/val/raw datasets.val.dataroot_lq=$DATA/val/LR_QP$QP
  datasets.val.dataroot_key=$DATA/val/KEY_QP$KEY_QP datasets.train.manifest_check.qp=$QP
  datasets.train.manifest_check.key_qp=$KEY_QP datasets.val.manifest_check.qp=$QP
  datasets.val.manifest_check.key_qp=$KEY_QP"
status=0
for variant in refs norefs; do
  ablate=$([ $variant = norefs ] && echo true || echo false)
  # shellcheck disable=SC2086  # SET is a list of KEY=VALUE words
  python3 vsrkit/train.py -opt options/demo/train_rcvsr_demo.yml --set name=rcvsr_evidence_$variant \
    network_g.ablate_refs=$ablate path.experiments_root="$LOG_DIR/experiments/qp${QP}_$variant" $SET \
    > "$LOG_DIR/train_qp${QP}_$variant.log" 2>&1 || { tail -n 20 "$LOG_DIR/train_qp${QP}_$variant.log"; status=1; }
  echo "QP $QP $variant: $(grep "validation val @ iter $ITERS" "$LOG_DIR/train_qp${QP}_$variant.log" | sed 's/.*iter [0-9]*: //')" \
    | tee -a "$LOG_DIR/summary.txt"
done
echo "rcvsr_evidence: $([ $status = 0 ] && echo OK || echo FAILURES) (logs in $LOG_DIR)"
exit $status
