#!/usr/bin/env bash
# Issue 14's active-learning figure on a lent GPU machine, with longer campaigns than the 2 cores allow
# (docs/benchmarks.md, "Active learning on a lent GPU"). Not a benchmark of bin/bench: it runs there, under that
# machine's own python3 and torch. Beside it, on two cores of their own, the host CPU's precision figure.
#
# Prepare here, in the checkout (both folders ignored through .git/info/exclude, then carried), as for
# benchmarks/_gpu_emps.sh, whose header lists the wheels; add typer and click at requirements.lock's versions:
#   .venv/bin/python -P -m benchmarks._emps_copy .gpu/emps --splits train,val
# Run there:   AL_SECONDS=420 benchmarks/_gpu_al.sh [more simulate options]          (OUT: the folder that comes back)
#   SEEDS, STRATEGIES and JOBS as for simulate_emps.sh (defaults "0 1 2", "random kcenter typiclust", 12);
#   PYTHON=...: that interpreter as it is (no wheels installed), to try the script on a CPU.
# Back in OUT: al.tgz (each seed's simulate.csv and logs, seeds.csv, learning_curves.png), al.log (the table),
# precision_cpu.log, precision_gpu_b64.log, machine.txt. Campaigns stopped by AL_SECONDS keep their finished rounds.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${OUT:?the folder whose files come back}"
source benchmarks/_gpu_env.sh
cpus=$(nproc)
pin_cpu=() pin_al=()  # two cores of their own for the CPU figure, where there are enough
if (( cpus >= 4 )); then pin_cpu=(taskset -c $((cpus - 2)),$((cpus - 1))); pin_al=(taskset -c 0-$((cpus - 3))); fi
{ nvidia-smi -L; grep -m1 "model name" /proc/cpuinfo; grep -ow "amx_bf16\|avx512_bf16" /proc/cpuinfo | sort -u
  echo "$cpus cores"; } > "$OUT/machine.txt" 2>&1
"${pin_cpu[@]}" timeout $((${AL_SECONDS:-420} + 60)) "$PYTHON" -W ignore -P \
  -m benchmarks.train_precision --device cpu --steps "${CPU_STEPS:-20}" --modes fp32,auto --repeats 2 --threads 2 \
  > "$OUT/precision_cpu.log" 2>&1 &
cpu_figure=$!
al=$(mktemp -d)/al
SECONDS=0
OMP_NUM_THREADS=1 TIMEOUT=${AL_SECONDS:-420} APART=1 JOBS=${JOBS:-12} SEEDS=${SEEDS:-0 1 2} \
  STRATEGIES=${STRATEGIES:-random kcenter typiclust} EMPS_DIR=${EMPS_DIR:-.gpu/emps} \
  "${pin_al[@]}" benchmarks/simulate_emps.sh "$al" --rounds 8 --threads 1 --warm-lr 5e-4 --device cuda \
  "$@" > "$OUT/al.log" 2>&1
echo "active learning: exit $?, $SECONDS s" >> "$OUT/al.log"
wait $cpu_figure
timeout 120 "$PYTHON" -W ignore -P -m benchmarks.train_precision --device cuda --steps 30 --batch 64 --modes fp32,auto \
  --repeats 2 --threads 4 > "$OUT/precision_gpu_b64.log" 2>&1
tar czf "$OUT/al.tgz" --exclude ".round-*" -C "$(dirname "$al")" al
ls -la "$OUT"
tail -n 25 "$OUT/al.log" "$OUT/precision_cpu.log" "$OUT/precision_gpu_b64.log"
