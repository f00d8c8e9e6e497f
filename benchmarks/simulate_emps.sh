#!/usr/bin/env bash
# Issue 5 and 14 active-learning figure: replay labeling campaigns on ../shared/data/emps (instance segmaps) with
# several strategies (same initial images, seeds and test split for all), plus a model trained on every pool image,
# and print how many labeled images each strategy needs to reach 95% of that full-data test IoU, per seed and over
# the seeds (OUT/seeds.csv, OUT/learning_curves.png: each strategy's mean curve with the seeds' range).
#   PROFILE=cpu (default): random, entropy, kcenter; 10 + 5 rounds of 10 images; 6 epochs of 192 patches a round
#                          (the bf16 trainer where the CPU has it). PROFILE=gpu: also boundary; 8 rounds; 8 epochs
#                          a round of 384 patches (pass --device cuda).
#   STRATEGIES="random typiclust": these strategies instead of the profile's.
#   SEEDS="0 1 2" (default "0"): one campaign set per seed, in OUT/seed<N>; JOBS=N runs N seeds at once (default 1;
#                          give --threads so that JOBS x threads fits the cores).
#   APART=1: each strategy's campaign and the full reference in a process of its own (OUT/seed<N>/<strategy>/,
#                          JOBS of them at once), their simulate.csv files joined into OUT/seed<N>/simulate.csv.
#   TIMEOUT=SECONDS: stop each process after that long; simulate.csv keeps the rounds it finished.
#   PYTHON=python3: run `python3 -m grainloop` from this checkout instead of bin/grainloop (a lent GPU machine's own
#                          torch; benchmarks/_gpu_al.sh).
#   --smoke: the first 12 images (40% test), random and kcenter, 1 round from 2 to 4 images, 1 epoch of 8 small
#            patches on one thread, OUT in a temporary folder unless given: seconds, to check that the script runs;
#            its figures mean nothing.
# Usage: [PROFILE=cpu|gpu] [STRATEGIES="..."] [SEEDS="0 1 2"] [JOBS=N] bin/bench simulate_emps [--smoke] [OUT]
#        [extra simulate options]
#        (EMPS_DIR=... reads another folder laid out like EMPS: images/ and segmaps/ instance maps)
set -euo pipefail
{  # read whole before it runs: a file edited during a long run (a pull, a fix) does not break it
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
  cpu) strategies="random entropy kcenter"; profile=(--rounds 5 --epochs 6 --patches-per-epoch 192) ;;
  gpu) strategies="random entropy boundary kcenter"; profile=(--rounds 8 --epochs 8 --patches-per-epoch 384) ;;
  smoke) strategies="random kcenter"; profile=(--rounds 1 --epochs 1 --patches-per-epoch 8) ;;
  *) echo "PROFILE must be cpu or gpu"; exit 2 ;;
esac
strategies=(${STRATEGIES:-$strategies})
python=${PYTHON:-$("$root/scripts/venv.sh")/bin/python}
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
stop=()
[[ -n ${TIMEOUT:-} ]] && stop=(timeout "$TIMEOUT")
campaign() {  # SEED PART [OPTIONS]: campaigns into OUT/seed<SEED>/PART, its log beside them
  local seed=$1 folder=$out/seed$1/$2
  shift 2
  mkdir -p "$folder"
  "${stop[@]}" "$python" -m grainloop simulate --images "$emps/images" --masks "$emps/segmaps" --mask-kind instance \
    --out "$folder" "${profile[@]}" --initial 10 --batch 10 --seed "$seed" --test-fraction 0.2 \
    --arch unet --encoder resnet18 --downsample 2 --decoder-channels 128,64,32,16,16 --patch 192 --batch-size 8 \
    --lr 3e-3 --loss dice_ce --patience 100 --threads 2 "${smoke[@]}" "$@" > "$folder/simulate.log" 2>&1 \
    || echo "exit $? (124: TIMEOUT): $folder" >> "$out/failed"
  tail -n 3 "$folder/simulate.log"
}
jobs=()  # one line per process: SEED PART OPTIONS... (no paths: split on spaces)
for seed in ${SEEDS:-0}; do
  if [[ -n ${APART:-} ]]; then
    for s in "${strategies[@]}"; do jobs+=("$seed $s --strategy $s --no-full"); done
    jobs+=("$seed full --full-only")
  else
    jobs+=("$seed .$(printf ' --strategy %s' "${strategies[@]}")")
  fi
done
mkdir -p "$out"
rm -f "$out/failed"
running=0
for job in "${jobs[@]}"; do
  campaign $job "$@" &
  running=$((running + 1))
  if (( running >= ${JOBS:-1} )); then wait -n; running=$((running - 1)); fi
done
wait
if [[ -n ${APART:-} ]]; then  # each seed's parts joined, one header
  for seed in ${SEEDS:-0}; do
    parts=("$out/seed$seed"/*/simulate.csv)
    [ -e "${parts[0]}" ] && awk 'FNR > 1 || NR == 1' "${parts[@]}" > "$out/seed$seed/simulate.csv"
  done
fi
"$python" - "$out" ${SEEDS:-0} <<'PY'
import sys
from pathlib import Path
from ml.simulate_report import report_seeds
out = Path(sys.argv[1])
print("\n".join(report_seeds(out, {int(s): out / f"seed{s}" / "simulate.csv" for s in sys.argv[2:]})))
PY
[ ! -s "$out/failed" ] || { echo "stopped early (the table has the rounds they finished):"; cat "$out/failed"; exit 1; }
exit
}
