#!/usr/bin/env bash
# PTIA checks on a CUDA machine (issue 10), called by scripts/gpu_checks.sh (GPU_CHECKS_PTIA=0 skips it), or alone:
#   1. scripts/bench_vsr.py --ptia: fps, peak memory and DCN share per DCN backend at 15 x 180x320 -> 720x1280
#      (published PTIA, 13.9M parameters);
#   2. the PTIA tests (parity with the published code, options, end to end) on this machine;
#   3. the evidence runs of docs/ptia.md on CUDA: fast-camera demo data at CRF 15/25/35, PTIA (tbia; and tbia with
#      alignment_init: identity) and its alignment ablations (none, flow) trained $PTIA_ITERS iterations each
#      (default 300), tested on the held-out clips beside bicubic; a summary table (mean PSNR/SSIM over clips and
#      CRFs) at the end. PTIA_OBJECTS=N adds N independently moving objects per clip to the data (demo_data.objects);
#      PTIA_SEED=S trains with manual_seed S (default 0).
# Logs and tables: $OUT/ptia (device runner) or results/gpu_checks/ptia. About 3-4 minutes on an H100/H200.
#   bash scripts/gpu_checks_ptia.sh
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_DIR="${OUT:-results/gpu_checks}/ptia"
OBJECTS="${PTIA_OBJECTS:-0}"
DATA="${PTIA_DATA:-datasets/demo_ptia_evidence$([ "$OBJECTS" = 0 ] || echo "_objects$OBJECTS")}"
ITERS="${PTIA_ITERS:-300}"
SEED="${PTIA_SEED:-0}"
mkdir -p "$LOG_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0

echo "== PTIA 1. benchmark =="
python3 scripts/bench_vsr.py --alignments none --train-modes --ptia --json "$LOG_DIR/bench_ptia.json" 2>&1 \
  | tee "$LOG_DIR/bench_ptia.log"
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks_ptia: BENCHMARK FAILED"; status=1; }

echo "== PTIA 2. tests =="
python3 -m pytest -q tests/archs/test_archs_ptia.py tests/options/test_options_ptia.py tests/models/test_models_ptia.py \
  2>&1 | tee "$LOG_DIR/tests.log"
[ "${PIPESTATUS[0]}" = "0" ] || { echo "gpu_checks_ptia: TESTS FAILED"; status=1; }

echo "== PTIA 3. evidence (tbia vs none vs flow, $ITERS iterations each) =="
for q in 15 25 35; do
  python3 -m vsrkit.data.demo_builder --root "$DATA/crf$q" --crf "$q" --num-train-clips 24 --num-val-clips 4 \
    --num-frames 10 --hr-size 128 --pan-speed 4 12 --seed 0 --objects "$OBJECTS" >> "$LOG_DIR/data.log" 2>&1 \
    || { tail -n 20 "$LOG_DIR/data.log"; echo "gpu_checks_ptia: DATA FAILED"; exit 1; }
done
lq() { echo "[$DATA/crf15/$1/lq, $DATA/crf25/$1/lq, $DATA/crf35/$1/lq]"; }
# name:overrides (words joined by ','); tbia_identity = PTIA with alignment_init: identity (TBIA starts as the warp)
for spec in tbia:network_g.alignment=tbia \
    tbia_identity:network_g.alignment=tbia,network_g.alignment_init=identity \
    none:network_g.alignment=none flow:network_g.alignment=flow; do
  a=${spec%%:*}
  IFS=, read -r -a net <<< "${spec#*:}"
  exp="$LOG_DIR/experiments/ptia_ev_$a"
  if python3 vsrkit/train.py -opt options/demo/train_ptia_demo.yml --set name=ptia_ev_$a "${net[@]}" manual_seed=$SEED \
      train.total_iter=$ITERS train.scheduler.T_max=$ITERS val.val_freq=$ITERS logger.save_checkpoint_freq=$ITERS \
      path.experiments_root="$exp" demo_data.root="$DATA/crf25" demo_data.objects="$OBJECTS" \
      datasets.train.dataroot="$DATA/crf25/train" \
      datasets.train.dataroot_gt="$DATA/crf25/train/gt" "datasets.train.dataroot_lq=$(lq train)" \
      datasets.val.dataroot="$DATA/crf25/val" datasets.val.dataroot_gt="$DATA/crf25/val/gt" \
      "datasets.val.dataroot_lq=$(lq val)" > "$LOG_DIR/train_$a.log" 2>&1 &&
     python3 vsrkit/test.py -opt options/demo/test_ptia_demo.yml --set name=ptia_ev_$a "${net[@]}" \
      path.pretrain_network_g="$exp/models/net_g_latest.pth" path.results_root="$LOG_DIR/results/$a" \
      demo_data.root="$DATA/crf25" demo_data.objects="$OBJECTS" datasets.test_demo.dataroot="$DATA/crf25/val" \
      datasets.test_demo.dataroot_gt="$DATA/crf25/val/gt" "datasets.test_demo.dataroot_lq=$(lq val)" \
      > "$LOG_DIR/test_$a.log" 2>&1; then
    echo "$a: trained and tested"
  else
    tail -n 30 "$LOG_DIR/train_$a.log" "$LOG_DIR/test_$a.log" 2>/dev/null; echo "gpu_checks_ptia: RUN $a FAILED"; status=1
  fi
done
python3 - "$LOG_DIR/results" <<'PY' | tee "$LOG_DIR/evidence.md"
import csv, sys
from pathlib import Path
rows = {}
for variant in ("tbia", "tbia_identity", "none", "flow"):
    table = Path(sys.argv[1]) / variant / "demo_val_metrics.csv"
    if table.is_file():
        rows[variant] = next(r for r in csv.DictReader(table.open()) if r["clip"] == "average")
print("| variant | PSNR (Y) | SSIM (Y) | bicubic PSNR | bicubic SSIM |\n|---|---|---|---|---|")
for variant, r in rows.items():
    print(f"| {variant} | {float(r['psnr']):.3f} | {float(r['ssim']):.4f} | {float(r['bicubic_psnr']):.3f} | "
          f"{float(r['bicubic_ssim']):.4f} |")
PY
echo "gpu_checks_ptia: $([ $status = 0 ] && echo ALL OK || echo FAILURES) (logs in $LOG_DIR)"
exit $status
