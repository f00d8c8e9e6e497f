#!/usr/bin/env bash
# Issue 5 active-learning figure: replay labeling campaigns on ../shared/data/emps (instance segmaps) with several
# strategies (same initial images, seeds and test split for all), plus a model trained on every pool image, and
# print how many labeled images each strategy needs to reach 95% of that full-data test IoU.
#   PROFILE=cpu (default): random, entropy, kcenter; 10 + 4 rounds of 10 images; 3 epochs a round (about 45 min
#                          on 2 cores). PROFILE=gpu: also boundary; 8 rounds; 8 epochs a round (pass --device cuda).
#   --smoke: the first 12 images (40% test), random and kcenter, 1 round from 2 to 4 images, 1 epoch of 8 small
#            patches on one thread, OUT in a temporary folder unless given: seconds, to check that the script runs;
#            its figures mean nothing.
# Usage: [PROFILE=cpu|gpu] bin/bench simulate_emps [--smoke] [OUT] [extra simulate options]
#        (EMPS_DIR=... reads another folder laid out like EMPS: images/ and segmaps/ instance maps)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
emps=${EMPS_DIR:-$root/../shared/data/emps}
smoke=()
if [[ ${1:-} == --smoke ]]; then
  shift
  smoke=(--initial 2 --batch 2 --test-fraction 0.4 --patch 64 --batch-size 4 --threads 1)
fi
out=$root/runs/emps-simulate
[[ ${#smoke[@]} -gt 0 ]] && out=
if [[ $# -gt 0 && $1 != -* ]]; then out=$1; shift; fi
[ -d "$emps/images" ] || { echo "no EMPS data at $emps"; exit 0; }
if [[ ${#smoke[@]} -gt 0 ]]; then
  source "$root/benchmarks/_smoke.sh"
  smoke_workdir simulate_emps 12
  PROFILE=smoke
fi
case ${PROFILE:-cpu} in
  cpu) profile=(--strategy random --strategy entropy --strategy kcenter --rounds 4 --epochs 3 --patches-per-epoch 192) ;;
  gpu) profile=(--strategy random --strategy entropy --strategy boundary --strategy kcenter --rounds 8 --epochs 8
                --patches-per-epoch 384) ;;
  smoke) profile=(--strategy random --strategy kcenter --rounds 1 --epochs 1 --patches-per-epoch 8) ;;
  *) echo "PROFILE must be cpu or gpu"; exit 2 ;;
esac
"$root/bin/grainloop" simulate --images "$emps/images" --masks "$emps/segmaps" --mask-kind instance --out "$out" \
  "${profile[@]}" --initial 10 --batch 10 --seed 0 --test-fraction 0.2 \
  --arch unet --encoder resnet18 --downsample 2 --decoder-channels 128,64,32,16,16 --patch 192 --batch-size 8 \
  --lr 3e-3 --loss dice_ce --patience 100 --threads 2 "${smoke[@]}" "$@"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$("$root/scripts/venv.sh")/bin/python" - "$out/simulate.csv" <<'PY'
import csv, sys
from ml.simulate_report import images_to_reach
rows = list(csv.DictReader(open(sys.argv[1])))
full = next(r for r in rows if r["strategy"] == "full")
print(f"EMPS full-data test IoU {float(full['iou']):.4f} with {full['n_labeled']} labeled images")
for strategy, n in images_to_reach(rows, 0.95).items():
    print(f"{strategy}: " + (f"{n} labeled images to reach 95% of it" if n else "95% not reached in the rounds run"))
PY
