"""Issue 13 figure: the demo's learning curve on several seeds (held-out IoU up, edit cost down?).

Runs `grainloop demo` (generated SEM grain fields, the SIMULATED annotator) once per seed, each in a child
process with its own folder, Label Studio and MLflow server, which are stopped after it. Per seed and cycle it
prints the labeled images, the champion's mean foreground IoU on the fixed held-out images (never imported) and
on the newest test split, the mean edit cost of the annotations synced in that cycle (1 - IoU between the
pre-annotation the annotator started from and what it submitted; none in the first cycle) and the seconds,
then whether the goal holds per seed: held-out IoU of the last cycle's champion at least 0.05 above the first
champion's, and the edit cost of the last cycle below the first one measured.

Usage: bin/bench demo_curve [--seeds 0 1 2] [--out runs/demo-curve] [--cycles 3] [--per-cycle 8] [--first 4]
       [--epochs 12] [--minutes 20] [--size 384] [--n-images 40] [--heldout 16] [--from-runs] [--smoke]
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._cli import parse_args
from grainloop.demo import EDIT_COLUMN, HELDOUT_COLUMN, IOU_COLUMN

SMOKE = {"seeds": [0], "cycles": 2, "per_cycle": 2, "first": 2, "epochs": 1, "size": 128, "n_images": 6,
         "heldout": 2}
GOAL_IOU = 0.05
HELD, TEST, EDIT = HELDOUT_COLUMN, IOU_COLUMN, EDIT_COLUMN  # learning_curve.csv's columns


def _options(a: argparse.Namespace, seed: int) -> dict:
    return dict(out=str(a.out / f"seed-{seed}"), cycles=a.cycles, per_cycle=a.per_cycle, first=a.first,
                epochs=a.epochs, minutes=a.minutes, size=a.size, n_images=a.n_images, heldout=a.heldout, seed=seed)


def run_seed(a: argparse.Namespace, seed: int) -> float:
    """The demo for one seed in a child process (fresh Prefect and tracking state); its services are stopped
    afterwards, whatever happened. Returns its wall seconds."""
    from grainloop.cli import down

    code = ("import json, sys; from pathlib import Path; from grainloop.demo import DemoOptions, run_demo; "
            "o = json.loads(sys.argv[1]); o['out'] = Path(o['out']); run_demo(DemoOptions(**o))")
    import json

    start = time.monotonic()
    try:
        subprocess.run([sys.executable, "-c", code, json.dumps(_options(a, seed))], check=True,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    finally:
        down(a.out / f"seed-{seed}")
    return time.monotonic() - start


def read_curve(folder: Path) -> list[dict]:
    """learning_curve.csv of a demo folder, numbers parsed (empty cells: None)."""
    def value(v: str):
        try:
            return float(v) if v not in ("", "None") else None
        except ValueError:
            return v

    with open(folder / "learning_curve.csv", newline="") as f:
        return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}" if v.is_integer() else f"{v:.{digits}f}"
    return str(v)


def verdict(rows: list[dict]) -> tuple[float | None, bool, bool]:
    """(held-out IoU gain last - first champion, IoU goal met, edit cost fell) for one seed's curve."""
    held = [r[HELD] for r in rows if r.get(HELD) is not None]
    costs = [r[EDIT] for r in rows if r.get(EDIT) is not None]
    gain = held[-1] - held[0] if len(held) >= 2 else None
    return gain, gain is not None and gain >= GOAL_IOU, len(costs) >= 2 and costs[-1] < costs[0]


def table(curves: dict[int, list[dict]], seconds: dict[int, float]) -> list[str]:
    lines = ["| seed | cycle | labeled | champion | held-out IoU | newest test IoU | edit cost | s_cycle | demo s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for seed, rows in curves.items():
        for r in rows:
            lines.append(f"| {seed} | {_fmt(r['cycle'])} | {_fmt(r['images'])} | {_fmt(r.get('champion'))} | "
                         f"{_fmt(r.get(HELD))} | {_fmt(r.get(TEST))} | {_fmt(r.get(EDIT))} | {_fmt(r.get('s_cycle'), 0)} "
                         f"| {_fmt(round(seconds[seed])) if seed in seconds else '-'} |")
    return lines


def summary(curves: dict[int, list[dict]]) -> list[str]:
    lines, met = [], 0
    for seed, rows in curves.items():
        gain, iou_ok, cost_ok = verdict(rows)
        met += iou_ok and cost_ok
        lines.append(f"seed {seed}: held-out IoU gain last vs first champion {_fmt(gain)} "
                     f"({'>=' if iou_ok else 'not >='} {GOAL_IOU}); edit cost {'falls' if cost_ok else 'does not fall'}")
    lines.append(f"goal met on {met} of {len(curves)} seeds")
    return lines


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=Path("runs/demo-curve"))
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--per-cycle", type=int, default=8)
    p.add_argument("--first", type=int, default=4)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--n-images", type=int, default=40)
    p.add_argument("--heldout", type=int, default=16)
    p.add_argument("--from-runs", action="store_true", help="only read the seeds' learning_curve.csv under --out")
    a = parse_args(p, SMOKE, argv)
    seconds = {} if a.from_runs else {seed: run_seed(a, seed) for seed in a.seeds}
    curves = {seed: read_curve(a.out / f"seed-{seed}") for seed in a.seeds}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
          f"seeds {' '.join(map(str, a.seeds))}; {a.n_images} images of {a.size} px, {a.heldout} held out, "
          f"{a.first} then {a.per_cycle} labeled a cycle, {a.epochs} epochs of 64 patches a cycle")
    print("\n".join(table(curves, seconds) + summary(curves)))


if __name__ == "__main__":
    main()
