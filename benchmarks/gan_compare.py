"""Issue 18 figure: U-Net, LinkNet, ResUNet and the pix2pix cGAN segmenter at 128/256/512 px tiles, per-class IoU.

After the multi-mineral rock study of Alekseev, Dochkina, Bragin and Özdemir (Skoltech): each model trains for the
same wall-clock budget (--minutes; the trainer stops before an epoch that would overrun it) on the same images,
keeps its best epoch on validation images, and that model is scored on test images by ml.evaluate: the IoU of
every class and the mean foreground IoU. The cGAN is `--trainer gan` (ml/gan.py): the U-Net as generator, a
PatchGAN on (image, class probabilities), adversarial loss (weight --gan-weight) plus the Dice + Focal loss all
models learn. ResUNet is the U-Net with residual decoder blocks (ml/resunet.py). Same encoder, seed (so the same
initial encoder weights for the U-Net-based models), patch pixels per step and learning rate for all.

Data: `synthetic`, the phases mode of the generator (ml/synthetic_phases.py: pore, quartz, albite, clay-mix with
overlapping grey levels and mineral textures; --size px images, seeded); `emps`, EMPS as laid out in
../shared/data/emps (images/, segmaps/ instance maps: particle vs background; the dataset package's sha256 split,
the first --val-images of "val" and --test-images of "test"; absent: skipped with a line saying so).

Usage: bin/bench gan_compare [--datasets synthetic,emps] [--tiles 128,256,512] [--models unet,linknet,resunet,gan]
       [--minutes 10] [--train-images 24] [--device cpu|cuda|auto] [--out DIR] [--threads N] [--smoke]
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks._cli import add_run_options, emps_missing, ints, parse_args
from benchmarks.semi_supervised import split
from foundation.schema import LabelSchema, binary_schema
from ml.checkpoint import load_model
from ml.data import find_samples, load_samples
from ml.evaluate import evaluate
from ml.gan import GanConfig
from ml.metrics import CLASS_IOU_PREFIX, MEAN_FG_IOU
from ml.precision import cpu_model
from ml.synthetic_phases import PhasesConfig, write_phases_dataset
from ml.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = TrainConfig()
MODELS = {"unet": ("unet", "supervised"), "linknet": ("linknet", "supervised"), "resunet": ("resunet", "supervised"),
          "gan": ("unet", "gan")}  # name -> (architecture, trainer)
DATASETS = ("synthetic", "emps")
SMOKE = {"datasets": "synthetic", "tiles": "64", "models": "unet,gan", "minutes": 0.02, "epochs": 2, "size": 96,
         "train_images": 3, "val_images": 1, "test_images": 1, "steps": 2, "batch_size": 1,
         "decoder_channels": "32,16,16,8,8", "threads": 1}


def names(valid):
    def parse(text: str) -> tuple[str, ...]:
        got = tuple(str(text).split(","))
        bad = [g for g in got if g not in valid]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; valid: {', '.join(valid)}")
        return got
    return parse


def batch_size(tile: int, base: int) -> int:
    """The same pixels per step at every tile size: ``base`` patches of 256 px (at least 1 patch, at most 32)."""
    return int(min(32, max(1, round(base * (256 / tile) ** 2))))


def config(a: argparse.Namespace, name: str, tile: int, schema: LabelSchema, in_channels: int) -> TrainConfig:
    arch, trainer = MODELS[name]
    d, batch = DEFAULTS, batch_size(tile, a.batch_size)
    model = replace(d.model, arch=arch, in_channels=in_channels, classes=schema.num_outputs,
                    decoder_channels=a.decoder_channels)
    return replace(d, model=model, trainer=trainer, gan=replace(GanConfig(), weight=a.gan_weight),
                   patches=replace(d.patches, size=tile, per_epoch=batch * a.steps),
                   preprocess=replace(d.preprocess, downsample=a.downsample), batch_size=batch, epochs=a.epochs,
                   max_minutes=a.minutes, patience=a.epochs, threads=a.threads, seed=a.seed, device=a.device)


def synthetic(a: argparse.Namespace, tmp: Path):
    schema = LabelSchema.load(ROOT / "schemas" / "phases.yaml")
    n = a.train_images + a.val_images + a.test_images
    write_phases_dataset(tmp / "phases", n, PhasesConfig(size=a.size), a.seed)
    samples = load_samples(find_samples([tmp / "phases" / "images"], tmp / "phases" / "masks"), schema)
    tv = a.train_images + a.val_images
    return schema, samples[:a.train_images], samples[a.train_images:tv], samples[tv:]


def emps(a: argparse.Namespace):
    files = split(a.emps, None)
    if not files["train"] or not files["test"]:
        raise SystemExit(f"EMPS at {a.emps}: {len(files['train'])} training and {len(files['test'])} test images; "
                         "need one of each")
    load = lambda fs: load_samples(fs, binary_schema(), replace(DEFAULTS.preprocess, downsample=a.downsample),
                                   "instance")
    return (binary_schema(), load(files["train"][:a.train_images]), load(files["val"][:a.val_images]),
            load(files["test"][:a.test_images]))


def run(a: argparse.Namespace, name: str, tile: int, data, out: Path) -> dict:
    schema, tr, va, te = data
    cfg = config(a, name, tile, schema, tr[0].image.shape[0])
    t0 = time.perf_counter()
    result = train(cfg, schema, tr, va, out, resume=False)
    minutes = (time.perf_counter() - t0) / 60
    model, _ = load_model(result.model_path)
    metrics = evaluate(model, te, schema, cfg.predict).metrics
    return {"model": name, "tile": tile, "minutes": minutes, "epochs": result.state.epoch,
            "best": result.state.best_epoch, "batch": cfg.batch_size, **metrics}


def table(dataset: str, schema: LabelSchema, rows: list[dict]) -> list[str]:
    """Markdown rows; the synthetic phases label every pixel, so their background (0) has no IoU column."""
    classes = schema.output_names[1:] if dataset == "synthetic" else schema.output_names
    head = ["| data | tile | model | batch | epochs (best) | minutes | " + " | ".join(f"IoU {c}" for c in classes)
            + f" | {MEAN_FG_IOU} |", "|" + "---|" * (7 + len(classes))]
    return head + [f"| {dataset} | {r['tile']} | {r['model']} | {r['batch']} | {r['epochs']} ({r['best']}) "
                   f"| {r['minutes']:.1f} | " + " | ".join(f"{r.get(CLASS_IOU_PREFIX + c, float('nan')):.3f}"
                                                          for c in classes)
                   + f" | **{r[MEAN_FG_IOU]:.3f}** |" for r in rows]


def options() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=names(DATASETS), default=DATASETS)
    ap.add_argument("--tiles", type=ints, default=(128, 256, 512), help="patch (tile) sizes in px")
    ap.add_argument("--models", type=names(tuple(MODELS)), default=tuple(MODELS))
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget of each training run")
    ap.add_argument("--epochs", type=int, default=1000, help="at most (the budget stops a run first)")
    ap.add_argument("--steps", type=int, default=16, help="optimiser steps per epoch")
    ap.add_argument("--batch-size", type=int, default=8, help="patches per step at 256 px (scaled for other tiles "
                                                              "to the same pixels per step)")
    ap.add_argument("--gan-weight", type=float, default=GanConfig.weight, help="the adversarial loss's weight")
    ap.add_argument("--decoder-channels", type=ints, default=(128, 64, 32, 16, 16))
    ap.add_argument("--size", type=int, default=512, help="synthetic image side in px")
    ap.add_argument("--train-images", type=int, default=24)
    ap.add_argument("--val-images", type=int, default=4)
    ap.add_argument("--test-images", type=int, default=8)
    ap.add_argument("--downsample", type=int, default=1)
    ap.add_argument("--emps", type=Path, default=ROOT.parent / "shared" / "data" / "emps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="torch device for training (auto: cuda if any); scoring runs "
                                                    "on the CPU")
    return add_run_options(ap)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parse_args(options(), SMOKE, argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"command: bin/bench gan_compare {shlex.join(argv)}".rstrip())
    print(f"machine: {cpu_model()}; {torch.get_num_threads()} torch threads; torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or Path(tmp)
        for dataset in a.datasets:
            if dataset == "emps" and emps_missing(a.emps):
                continue
            data = synthetic(a, Path(tmp)) if dataset == "synthetic" else emps(a)
            print(f"{dataset}: {len(data[1])} training, {len(data[2])} validation, {len(data[3])} test images; "
                  f"{a.minutes:g} min per run; {a.steps} steps per epoch", flush=True)
            rows = []
            for tile in a.tiles:
                for name in a.models:
                    rows.append(run(a, name, tile, data, out / f"{dataset}-{tile}-{name}"))
                    print(f"  {dataset} {tile} px {name}: {MEAN_FG_IOU} {rows[-1][MEAN_FG_IOU]:.4f} "
                          f"({rows[-1]['minutes']:.1f} min, {rows[-1]['epochs']} epochs)", flush=True)
            print("\n".join(table(dataset, data[0], rows)), flush=True)


if __name__ == "__main__":
    main()
