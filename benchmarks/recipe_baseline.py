"""Issue 14 figure: grainloop's training recipe against a plain baseline, same EMPS split, same wall-clock budget.

Trains the recipe and then a plain baseline for the same budget, in one run, and scores both on the same
validation images: the best model each saved, loaded back and evaluated by the same code (ml.evaluate, mean
foreground IoU `mean_fg_iou`, the particle IoU; a boundary class counts as grain). Prints a markdown table and the
ratio recipe / baseline. Goal: >= 1.10.

The plain baseline is the issue's: the same architecture (Unet-resnet18, the same decoder), random (uniform)
crops, flips only, AdamW, Dice + cross-entropy (`dice_ce`), one cosine over the run, at the images' own
resolution (--baseline-downsample, 1), a binary grain map, and no test-time augmentation. It keeps the recipe's
patch and batch size, learning rate, precision (item 1 of the issue is measured on its own) and seed.

`--recipe grains` (the default) is what grainloop recommends for EMPS-like particle images, each part one of the
issue's levers: input resolution (--downsample 2: a 256-pixel patch sees four times the field), the boundary
class between touching grains as a second target (the instance-aware schema of `bin/bench emps_grains`), a cosine
over --epochs stopped by the budget, and test-time flips when scored. Its augmentation, patch sampling and loss
are the baseline's: TrainConfig's heavier defaults lost the ablation below. `--recipe defaults` is that ablation:
TrainConfig's defaults (90-degree turns, affine, photometry, noise and SEM artifacts, class-balanced patches, Dice +
focal, cosine restarts), binary, against the baseline at the same resolution (give --baseline-downsample 2). The
baseline's cosine spans as many epochs as the recipe ran (--baseline-epochs sets it); it also stops at the budget.

Data: EMPS as laid out in ../shared/data/emps (images/, segmaps/ instance maps; absent: the script says so and
exits 0). Split: the dataset package's hash split (sha256 of the image file, 70/15/15); training on "train",
scoring on "val"; the test images are never loaded.

Usage: bin/bench recipe_baseline [--minutes 30] [--recipe grains|defaults] [--epochs 40] [--downsample 2]
       [--baseline-downsample 1] [--baseline-epochs N] [--baseline-only] [--emps DIR] [--out DIR] [--limit N] [--threads N] [--smoke]
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from benchmarks._cli import add_patch_options, emps_parser, emps_splits, parse_emps_args
from foundation.schema import LabelSchema, binary_schema
from ml.augment import AugmentConfig
from ml.checkpoint import load_model
from ml.data import load_samples
from ml.evaluate import evaluate
from ml.precision import cpu_model
from ml.train import SCORE, TrainConfig, train

DEFAULTS = TrainConfig()
LONG = 100_000  # epochs and patience of the recipe: the budget stops it
SMOKE = {"limit": 6, "minutes": 0.05, "patch": 64, "patches_per_epoch": 8, "batch_size": 4,
         "decoder_channels": "16,16,16,16,16", "threads": 1}
FLIPS_ONLY = AugmentConfig(flips=True, rotate90=False, rotate_degrees=0.0, shift=0.0, shear_degrees=0.0, zoom=0.0,
                           brightness=0.0, contrast=0.0, gamma=(1.0, 1.0), gaussian_noise=0.0, poisson_noise=0.0,
                           curtaining=0.0, charging=0.0, gradient=0.0, defocus=0.0, p_geometric=0.0, invert=0.0)


@dataclass(frozen=True)
class Outcome:
    name: str
    epochs: int
    steps: int
    minutes: float
    stopped: str
    best_epoch: int
    trainer_score: float  # the best validation score the trainer recorded (no test-time flips)
    score: float  # the saved best model, loaded back and evaluated on the validation images


@dataclass(frozen=True)
class Arm:
    """One side of the comparison: what it trains, on which schema and resolution, and how it is scored."""
    name: str
    schema: LabelSchema
    downsample: int
    tta: bool = False


def recipe_config(a: argparse.Namespace, in_channels: int, classes: int) -> TrainConfig:
    """TrainConfig's defaults with the budget, the data's channels and classes, and the run's sizes."""
    d = DEFAULTS
    decoder = a.decoder_channels if a.decoder_channels is not None else d.model.decoder_channels
    return replace(d, model=replace(d.model, in_channels=in_channels, classes=classes, decoder_channels=decoder),
                   patches=replace(d.patches, size=a.patch, per_epoch=a.patches_per_epoch),
                   preprocess=replace(d.preprocess, downsample=a.downsample),
                   batch_size=a.batch_size, epochs=LONG, patience=LONG, max_minutes=a.minutes, threads=a.threads,
                   device=a.device, workers=a.workers)


def baseline_config(recipe: TrainConfig, epochs: int) -> TrainConfig:
    """The recipe less its additions: flips only, uniform patches, Dice + CE, one cosine over ``epochs``."""
    return replace(recipe, augment=FLIPS_ONLY, patches=replace(recipe.patches, class_balanced=False),
                   loss=replace(recipe.loss, name="dice_ce"), epochs=epochs, restart_epochs=epochs, patience=epochs)


def grains_config(a: argparse.Namespace, in_channels: int, classes: int) -> TrainConfig:
    """The grains recipe's training: the baseline's augmentation, patches and loss, a cosine over --epochs, and the
    budget (the schema and resolution are the Arm's)."""
    return replace(baseline_config(recipe_config(a, in_channels, classes), a.epochs), max_minutes=a.minutes)


def arms(a: argparse.Namespace) -> tuple[Arm, Arm]:
    """The recipe's and the baseline's schema, resolution and scoring."""
    baseline = Arm("baseline", binary_schema(), a.baseline_downsample)
    if a.recipe == "grains":
        return Arm("recipe", binary_schema(boundary=True), a.downsample, tta=True), baseline
    return Arm("recipe", binary_schema(), a.downsample), baseline


def run(arm: Arm, cfg: TrainConfig, train_s, val_s, out: Path) -> Outcome:
    """Train one config into out/name and score its saved best model on the validation images."""
    t0 = time.perf_counter()
    result = train(cfg, arm.schema, train_s, val_s, out / arm.name, resume=False)
    minutes = (time.perf_counter() - t0) / 60
    state = result.state
    score = float("nan")
    if result.model_path.exists():
        model, _ = load_model(result.model_path)
        score = evaluate(model, val_s, arm.schema, replace(cfg.predict, tta=arm.tta)).metrics[SCORE]
    steps = state.epoch * (cfg.patches.per_epoch // cfg.batch_size)
    return Outcome(arm.name, state.epoch, steps, minutes, result.stopped, state.best_epoch, state.best_score, score)


def split_files(emps: Path, limit: int | None):
    """The train and val files of the hash split (the first ``limit`` of them by name when given)."""
    kept = [(f, s) for f, s in emps_splits(emps) if s in ("train", "val")][:limit]
    return [f for f, s in kept if s == "train"], [f for f, s in kept if s == "val"]


def table(outcomes: list[Outcome]) -> list[str]:
    rows = ["| run | steps | epochs | minutes | stopped | best epoch | trainer's best val IoU | val particle IoU |",
            "|---|---|---|---|---|---|---|---|"]
    rows += [f"| {o.name} | {o.steps} | {o.epochs} | {o.minutes:.2f} | {o.stopped} | {o.best_epoch} "
             f"| {o.trainer_score:.4f} | **{o.score:.4f}** |" for o in outcomes]
    return rows


def options() -> argparse.ArgumentParser:
    ap = emps_parser(__doc__, 30.0)
    ap.add_argument("--recipe", choices=("grains", "defaults"), default="grains",
                    help="grains: grainloop's EMPS recipe; defaults: TrainConfig's defaults (the ablation)")
    ap.add_argument("--epochs", type=int, default=40, help="the grains recipe's epochs and cosine")
    ap.add_argument("--baseline-downsample", type=int, default=1, help="the baseline's resolution (1: the images')")
    ap.add_argument("--baseline-epochs", type=int, help="the baseline's epochs and cosine (default: the recipe's)")
    ap.add_argument("--baseline-only", action="store_true",
                    help="train the baseline alone (needs --baseline-epochs; no ratio): one more baseline beside a "
                         "recipe run")
    return add_patch_options(ap, DEFAULTS)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parse_emps_args(options(), SMOKE, argv)
    if a is None:
        return
    train_f, val_f = split_files(a.emps, a.limit)
    if not train_f or not val_f:
        raise SystemExit(f"{len(train_f)} training and {len(val_f)} validation images: need one of each")
    recipe_arm, baseline_arm = arms(a)
    if a.baseline_only and not a.baseline_epochs:
        raise SystemExit("--baseline-only needs --baseline-epochs (the epochs the recipe ran)")
    print(f"command: bin/bench recipe_baseline {shlex.join(argv)}".rstrip())
    print(f"machine: {cpu_model()}; {torch.get_num_threads()} torch threads; torch {torch.__version__}")
    print(f"{len(train_f)} training and {len(val_f)} validation images of {a.emps} (sha256 split 70/15/15, "
          f"test never loaded); {a.minutes:g} minutes each; recipe {a.recipe} (downsample {recipe_arm.downsample}, "
          f"classes {', '.join(recipe_arm.schema.output_names)}, test-time flips {'on' if recipe_arm.tta else 'off'}); "
          f"baseline downsample {baseline_arm.downsample}; batch {a.batch_size} of {a.patch}x{a.patch}, "
          f"{a.patches_per_epoch} patches per epoch")
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or Path(tmp)
        for arm in (baseline_arm,) if a.baseline_only else (recipe_arm, baseline_arm):
            preprocess = replace(DEFAULTS.preprocess, downsample=arm.downsample)
            train_s, val_s = (load_samples(f, arm.schema, preprocess, "instance") for f in (train_f, val_f))
            cfg = configure(a, arm, train_s[0].image.shape[0], outcomes)
            outcomes.append(run(arm, cfg, train_s, val_s, out))
    print("\n".join(table(outcomes)))
    if a.baseline_only:
        return
    first, second = outcomes
    if second.score > 0:
        ratio = first.score / second.score
        verdict = f"{ratio:.3f} (goal >= 1.10: {'met' if ratio >= 1.10 else 'not met'})"
    else:
        verdict = "n/a (the baseline scored 0)"
    print(f"ratio recipe / baseline (val particle IoU): {verdict}")


def configure(a: argparse.Namespace, arm: Arm, in_channels: int, before: list[Outcome]) -> TrainConfig:
    """The arm's TrainConfig at its resolution; the baseline's cosine spans the epochs the recipe ran."""
    own = argparse.Namespace(**{**vars(a), "downsample": arm.downsample})
    classes = arm.schema.num_outputs
    if arm.name == "recipe":
        build = grains_config if a.recipe == "grains" else recipe_config
        return build(own, in_channels, classes)
    return baseline_config(recipe_config(own, in_channels, classes), a.baseline_epochs or before[0].epochs)


if __name__ == "__main__":
    main()
