#!/usr/bin/env bash
# Issue 2 accuracy figure: train Unet-resnet18 on ../shared/data/emps within a 20-minute CPU budget and
# print the validation particle IoU. The split is deterministic (sha256 of the image id, 20% validation).
# Usage: benchmarks/emps_train.sh [OUT] [extra train options]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
emps=${EMPS_DIR:-$root/../shared/data/emps}
out=${1:-$root/runs/emps-benchmark}
shift || true
[ -d "$emps/images" ] || { echo "no EMPS data at $emps"; exit 0; }
"$root/bin/grainloop" train --images "$emps/images" --masks "$emps/segmaps" --mask-kind instance --out "$out" \
  --arch unet --encoder resnet18 --downsample 2 --decoder-channels 128,64,32,16,16 --patch 192 --batch-size 8 \
  --patches-per-epoch 384 --epochs 12 --restart-epochs 12 --lr 3e-3 --loss dice_ce --patience 100 \
  --minutes 20 --threads 2 --no-resume "$@"
python3 - "$out/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"EMPS validation particle IoU {m['iou/grain']:.4f} (epoch {m['epoch']}, stopped: {m['stopped']}, "
      f"mean IoU {m['mean_iou']:.4f}, boundary F1 {m['boundary_f1']:.4f})")
PY
