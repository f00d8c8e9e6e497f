#!/usr/bin/env bash
# The EMPS training on a lent GPU machine (issue 14, item 5; docs/benchmarks.md, "On a lent GPU"). Not a benchmark
# of bin/bench: it runs there, under that machine's own python3 and torch, not the project's environment.
#
# Prepare here, in the checkout (both folders ignored through .git/info/exclude, then carried):
#   .venv/bin/python -P -m benchmarks._emps_copy .gpu/emps --splits train,val   # 48 MiB of the 64 that travel
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#     --platform any -d .whl segmentation_models_pytorch albumentations albucore pydantic pydantic_core \
#     annotated-types typing-inspection stringzilla simsimd        # each at requirements.lock's version
# Run there:   EPOCHS=40 MINUTES=4 benchmarks/_gpu_emps.sh        (OUT: the folder that comes back)
# It prints the GPU's training precision figures, trains emps_grains' model (--train-only), and leaves the
# model's fp16 copy in parts under 15 MiB (a file comes back only up to 16 MiB) with the run's log and history.
# Here: cat OUT/model_fp16.part-* > model.pt; bin/bench emps_grains --model model.pt --tta on
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${OUT:?the folder whose files come back}"
source benchmarks/_gpu_env.sh
"$PYTHON" -W ignore -P -m benchmarks.train_precision --device cuda --steps 100 --batch 8 --repeats 2 --threads 4 \
  2>&1 | tee "$OUT/precision.log"
run=$(mktemp -d)
"$PYTHON" -W ignore -P -m benchmarks.emps_grains --emps "${EMPS:-.gpu/emps}" --device cuda --workers "${WORKERS:-8}" \
  --threads 4 --epochs "${EPOCHS:-40}" --minutes "${MINUTES:-4}" --train-only --out "$run" 2>&1 | tee "$OUT/train.log"
"$PYTHON" - "$run/grains" "$OUT" <<'EOF'
import io
import sys
from pathlib import Path

import torch

run, out = Path(sys.argv[1]), Path(sys.argv[2])
blob = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
blob["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
buffer = io.BytesIO()
torch.save(blob, buffer)
data, part = buffer.getvalue(), 15 * 2**20
for i in range(0, len(data), part):
    (out / f"model_fp16.part-{i // part:02d}").write_bytes(data[i:i + part])
history = torch.load(run / "last.pt", map_location="cpu", weights_only=False)["state"]["history"]
(out / "history.txt").write_text("".join(f"{r['epoch']} {r['seconds']:.2f} {r['train_loss']:.4f} "
                                         f"{r.get('mean_fg_iou', float('nan')):.4f}\n" for r in history))
EOF
ls -la "$OUT"
