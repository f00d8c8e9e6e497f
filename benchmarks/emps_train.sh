#!/usr/bin/env bash
# Issue 2 accuracy figure: train Unet-resnet18 on ../shared/data/emps within a 20-minute CPU budget and
# print the validation particle IoU. The split is deterministic (sha256 of the image id, 20% validation).
# Usage: bin/bench emps_train [--smoke] [OUT] [extra train options]   (EMPS_DIR=... reads another folder laid out
# like EMPS: images/ and segmaps/ instance maps). --smoke: the first 8 images, half of them for validation, 1 epoch
# of 8 small patches on one thread, OUT in a temporary folder unless given: seconds, to check that the script runs;
# its IoU means nothing.
set -euo pipefail
{  # read whole before it runs: a file edited during a long run (a pull, a fix) does not break it
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
emps=${EMPS_DIR:-$root/../shared/data/emps}
smoke=()
if [[ ${1:-} == --smoke ]]; then
  shift
  smoke=(--epochs 1 --restart-epochs 1 --patch 64 --batch-size 4 --patches-per-epoch 8 --val-fraction 0.5 --minutes 5
         --threads 1)
fi
out=$root/runs/emps-benchmark
[[ ${#smoke[@]} -gt 0 ]] && out=
if [[ $# -gt 0 && $1 != -* ]]; then out=$1; shift; fi
[ -d "$emps/images" ] || { echo "no EMPS data at $emps"; exit 0; }
if [[ ${#smoke[@]} -gt 0 ]]; then
  source "$root/benchmarks/_smoke.sh"
  smoke_workdir emps_train 8
fi
"$root/bin/grainloop" train --images "$emps/images" --masks "$emps/segmaps" --mask-kind instance --out "$out" \
  --schema "$root/schemas/grains.yaml" --arch unet --encoder resnet18 --downsample 2 \
  --decoder-channels 128,64,32,16,16 --patch 192 --batch-size 8 --patches-per-epoch 384 --epochs 12 --restart-epochs 12 --lr 3e-3 --loss dice_ce --patience 100 \
  --minutes 20 --threads 2 --no-resume "${smoke[@]}" "$@"
python3 - "$out/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"EMPS validation particle IoU {m['iou/grain']:.4f} (epoch {m['epoch']}, stopped: {m['stopped']}, "
      f"mean IoU {m['mean_iou']:.4f}, boundary F1 {m['boundary_f1']:.4f})")
PY
exit
}
