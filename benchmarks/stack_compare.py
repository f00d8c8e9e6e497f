"""Issue 18 table: does a second detector, and do neighbouring slices, help segment a serial-section stack?

The design of the PFIB-SEM cement study (Dong et al.): a model trained on three unprocessed slices of a stack,
with {1, 2 detectors} x {1, 3 slices} as input, judged on held-out slices. Here the stack is
``ml.synthetic_stack`` (cement-like phases that continue across slices; in-chamber and through-the-lens
renderings, each of which sees one phase only weakly; curtaining, charging, a detector gradient and noise drawn
anew for every slice). Every configuration goes through ``grainloop stack prepare``'s dataset
(``ml.stack_prepare``) and the ordinary trainer with the same budget and seed; one more slice is the validation
image, and the held-out slices (and their context) are never trained on. Per-class IoU on the held-out slices.

A fifth row trains the Sensor-3D-like model (``--arch sensor3d``) on two detectors x three slices.

Usage: bin/bench stack_compare [--slices-total 24] [--size 128] [--train 4,12,20] [--val 8] [--heldout 15,16,17]
       [--epochs 10] [--minutes 2.5] [--patch 64] [--patches-per-epoch 32] [--no-sensor3d] [--sigma-xy 6]
       [--noise 0.16] [--weak 0.07] [--seed 0] [--smoke]
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile

from benchmarks._cli import ints, parse_args
from foundation.schema import LabelSchema
from foundation.slicestack import slice_input
from ml.checkpoint import load_model
from ml.predict import PredictConfig
from ml.runs import TrainSpec, predict_class_map, run_training
from ml.stack_prepare import prepare_stack, slice_id
from ml.synthetic_stack import DETECTORS, PHASES, StackConfig, generate_stack
from ml.train_options import DEFAULTS, with_options

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schemas" / "cement-phases.yaml"
SMOKE = {"slices_total": 6, "size": 48, "train": "1", "val": 3, "heldout": "4", "epochs": 1, "patch": 32,
         "patches_per_epoch": 4}
CONFIGS = ((1, 1, "unet"), (1, 3, "unet"), (2, 1, "unet"), (2, 3, "unet"))  # (detectors, slices, architecture)
SENSOR3D = ((2, 3, "sensor3d"),)  # the Sensor-3D-like model (ml/sensor3d.py) on the same 2.5D input


def iou_per_class(truth: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """IoU of every class 0..classes-1 over all pixels given (NaN for a class absent from both)."""
    conf = np.bincount(truth.ravel() * classes + pred.ravel(), minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(conf).astype(float)
    den = conf.sum(0) + conf.sum(1) - tp
    return np.where(den > 0, tp / np.maximum(den, 1), np.nan)


def run_config(stack, detectors: int, slices: int, arch: str, args, work: Path) -> dict:
    names = DETECTORS[:detectors]
    raw = work / "raw"
    paths = [raw / f"{n}.tif" for n in names]
    for n, p in zip(names, paths):
        if not p.exists():
            raw.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(p, stack.detectors[n], photometric="minisblack")
    tifffile.imwrite(raw / "labels.tif", stack.labels, photometric="minisblack")
    picked = [*args.train, args.val]
    ds = prepare_stack(paths, work / f"d{detectors}s{slices}{arch}", slices, raw / "labels.tif", picked)
    splits = {slice_id(k): "train" for k in args.train} | {slice_id(args.val): "val"}
    schema = LabelSchema.load(SCHEMA)
    spec = TrainSpec(ds.channels, ds.masks, "class", schema, splits=splits, resume=False)
    cfg = with_options(DEFAULTS, arch=arch, encoder="resnet18", decoder_channels=(64, 32, 32, 16, 16),
                       epochs=args.epochs, minutes=args.minutes, patch=args.patch,
                       patches_per_epoch=args.patches_per_epoch, batch_size=min(8, args.patches_per_epoch),
                       seed=args.seed, threads=args.threads, patience=args.epochs)
    cfg = replace(cfg, restart_epochs=args.epochs)
    start = time.perf_counter()
    result = run_training(spec, cfg, work / f"run_d{detectors}s{slices}{arch}")
    seconds = time.perf_counter() - start
    net, artifact = load_model(result.model_path)
    stacks = [stack.detectors[n] for n in names]
    pcfg = PredictConfig(tile=min(256, args.size), overlap=32)
    preds = [predict_class_map(net, artifact, slice_input(stacks, k, slices), pcfg)[0] for k in args.heldout]
    truth = np.stack([stack.labels[k] for k in args.heldout])
    iou = iou_per_class(truth, np.stack(preds), len(PHASES) + 1)
    return {"detectors": detectors, "slices": slices, "arch": arch, "channels": detectors * slices, "iou": iou,
            "mean_fg": float(np.nanmean(iou[1:])), "seconds": seconds, "epochs": len(result.state.history)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slices-total", type=int, default=24, help="slices in the generated stack")
    ap.add_argument("--size", type=int, default=128, help="slice side, px")
    ap.add_argument("--train", type=ints, default=(4, 12, 20), help="training slices (the study: three)")
    ap.add_argument("--val", type=int, default=8, help="the validation slice (checkpoint choice)")
    ap.add_argument("--heldout", type=ints, default=(15, 16, 17), help="held-out slices the table scores")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=2.5, help="training time cap per configuration")
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--patches-per-epoch", type=int, default=32)
    ap.add_argument("--no-sensor3d", action="store_true", help="skip the sensor3d row")
    ap.add_argument("--sigma-xy", type=float, default=StackConfig.sigma_xy, help="phase region size, px")
    ap.add_argument("--noise", type=float, default=StackConfig.noise, help="noise per pixel, slice and detector")
    ap.add_argument("--weak", type=float, default=StackConfig.weak, help="grey step of a detector's weak phase")
    ap.add_argument("--seed", type=int, default=0, help="seed of the stack and of every training run")
    ap.add_argument("--threads", type=int, default=2)
    args = parse_args(ap, SMOKE, argv)
    for name in ("train", "heldout"):
        if isinstance(getattr(args, name), str):
            setattr(args, name, ints(getattr(args, name)))
    stack_cfg = StackConfig(slices=args.slices_total, height=args.size, width=args.size, sigma_xy=args.sigma_xy,
                            noise=args.noise, weak=args.weak)
    stack = generate_stack(stack_cfg, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_config(stack, d, s, a, args, Path(tmp))
                for d, s, a in CONFIGS + (() if args.no_sensor3d else SENSOR3D)]
    print(f"command: bin/bench stack_compare {shlex.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    print(f"stack: {args.slices_total} slices of {args.size}x{args.size} px, seed {args.seed}, sigma_xy "
          f"{args.sigma_xy} px, noise {args.noise}, weak step {args.weak}; trained on slices "
          f"{','.join(map(str, args.train))} (validation {args.val}), scored on held-out slice(s) "
          f"{','.join(map(str, args.heldout))}; resnet18 encoders, {args.epochs} epochs of "
          f"{args.patches_per_epoch} patches of {args.patch} px, cap {args.minutes} min")
    print("| model | detectors | slices | input channels | IoU matrix | " + " | ".join(f"IoU {p}" for p in PHASES)
          + " | mean phase IoU | epochs | train s |")
    print("|---|---|---|---|---|" + "---|" * len(PHASES) + "---|---|---|")
    for r in rows:
        dets = "+".join(DETECTORS[:r["detectors"]])
        cells = " | ".join(f"{v:.3f}" for v in r["iou"])
        print(f"| {r['arch']} | {dets} | {r['slices']} | {r['channels']} | {cells} | {r['mean_fg']:.3f} | "
              f"{r['epochs']} | {r['seconds']:.0f} |")
    by = {(r["detectors"], r["slices"]): r["mean_fg"] for r in rows if r["arch"] == "unet"}
    print(f"second detector: {by[2, 1] - by[1, 1]:+.3f} (1 slice), {by[2, 3] - by[1, 3]:+.3f} (3 slices); "
          f"neighbouring slices: {by[1, 3] - by[1, 1]:+.3f} (1 detector), {by[2, 3] - by[2, 1]:+.3f} (2 detectors)")
    for r in rows[len(CONFIGS):]:
        gain = r["mean_fg"] - by[r["detectors"], 3]
        print(f"sensor3d against unet, {r['detectors']} detectors x 3 slices: {gain:+.3f}")


if __name__ == "__main__":
    main()
