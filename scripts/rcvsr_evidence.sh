#!/usr/bin/env bash
# RCVSR evidence of docs/rcvsr.md on any device. Per LR QP in $RCVSR_QPS (default "22 32"; key frames at QP + 5):
# builds the larger generated set (48 training sequences of 17 frames at 128x128, 6 held out; x265 with the HM LDP
# QP cascade, or HM), trains the demo's compact RCVSR with its key-frame references and without them (ablate_refs)
# for $RCVSR_ITERS iterations each (default 3000, pixel-centre skip), then scores both on the held-out sequences
# beside bicubic, on the key-frame positions and on the frames between them apart (scripts/eval_frame_groups.py).
# Called by scripts/gpu_checks.sh with GPU_CHECKS_RCVSR_EVIDENCE=1, or alone:
#   RCVSR_ITERS=3000 RCVSR_QPS="22 32" bash scripts/rcvsr_evidence.sh
# RCVSR_SET adds option overrides to both trainings (e.g. RCVSR_SET="manual_seed=8").
# Logs and tables: $OUT/rcvsr_evidence (device runner) or results/rcvsr_evidence. About 45 min per QP on 2 CPU
# cores (the two trainings one after the other, one thread each would take the same).
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_DIR="${OUT:-results}/rcvsr_evidence"
ITERS="${RCVSR_ITERS:-3000}"
mkdir -p "$LOG_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
# the data options of dataset section $1 for split folder $2 at the loop's QP
paths() {
  echo "datasets.$1.dataroot_gt=$DATA/$2/raw datasets.$1.dataroot_lq=$DATA/$2/LR_QP$QP
    datasets.$1.dataroot_key=$DATA/$2/KEY_QP$KEY_QP datasets.$1.manifest_check.qp=$QP
    datasets.$1.manifest_check.key_qp=$KEY_QP"
}
for QP in ${RCVSR_QPS:-22 32}; do
  KEY_QP=$((QP + 5))
  DATA="${RCVSR_DATA_PREFIX:-datasets/rcvsr_evidence_qp}$QP"
  DATA_SET="network_g.image_align_corners=false demo_data.root=$DATA demo_data.num_train_clips=48
    demo_data.num_val_clips=6 demo_data.num_frames=17 demo_data.hr_size=128 demo_data.qp=$QP"
  SET="$DATA_SET train.total_iter=$ITERS train.scheduler.T_max=$ITERS val.val_freq=$ITERS
    logger.save_checkpoint_freq=$ITERS ${RCVSR_SET:-} $(paths train train) $(paths val val)"
  for variant in refs norefs; do
    ablate=$([ $variant = norefs ] && echo true || echo false)
    log="$LOG_DIR/train_qp${QP}_$variant.log"
    # shellcheck disable=SC2086  # SET is a list of KEY=VALUE words
    python3 vsrkit/train.py -opt options/demo/train_rcvsr_demo.yml --set name=rcvsr_evidence_qp${QP}_$variant \
      network_g.ablate_refs=$ablate path.experiments_root="$LOG_DIR/experiments/qp${QP}_$variant" $SET \
      > "$log" 2>&1 || { tail -n 20 "$log"; status=1; }
    echo "QP $QP $variant: $(grep "validation val @ iter $ITERS" "$log" | sed 's/.*iter [0-9]*: //')" \
      | tee -a "$LOG_DIR/summary.txt"
  done
  # shellcheck disable=SC2086
  python3 scripts/eval_frame_groups.py --groups key_frames --opt options/demo/test_rcvsr_demo.yml \
    --variant refs="$LOG_DIR/experiments/qp${QP}_refs/models/net_g_latest.pth" \
    norefs="$LOG_DIR/experiments/qp${QP}_norefs/models/net_g_latest.pth" \
    --variant-set norefs:network_g.ablate_refs=true --out "$LOG_DIR/qp$QP" --set $DATA_SET \
    $(paths test_demo val) 2>&1 | tee -a "$LOG_DIR/summary.txt"
  [ "${PIPESTATUS[0]}" = "0" ] || status=1
done
echo "rcvsr_evidence: $([ $status = 0 ] && echo OK || echo FAILURES) (logs in $LOG_DIR)"
exit $status
