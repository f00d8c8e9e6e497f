"""Issue 14 figure: grainloop's training recipe against a plain baseline, same EMPS split, same wall-clock budget.

Trains the recipe (TrainConfig's defaults at --downsample, stopped by the --minutes budget) and then a plain
baseline for the same budget, in one run, and scores both on the same validation images: the best model each
saved, loaded back and evaluated by the same code (ml.evaluate, mean foreground IoU `mean_fg_iou`, the particle
IoU). Prints a markdown table and the ratio recipe / baseline. Goal: >= 1.10.

The baseline keeps the recipe's architecture, encoder, decoder, downsampling, patch size, batch size, learning
rate, precision and seed (so the same initial weights), and changes only what the recipe adds: augmentation is
flips only (no 90-degree turns, affine, photometry, noise or SEM artifacts), patches are drawn uniformly (not
class-balanced), the loss is Dice + cross-entropy (`dice_ce`; the recipe's is Dice + focal), and the learning
rate follows one cosine over the whole run. The run's length in epochs is not known before a time-budgeted run
ends, so the baseline's cosine (and its epoch count) is the number of epochs the recipe ran in the budget
(--baseline-epochs sets it); the baseline also stops at the budget, whichever comes first.

Data: EMPS as laid out in ../shared/data/emps (images/, segmaps/ instance maps; absent: the script says so and
exits 0). Split: the dataset package's hash split (sha256 of the image file, 70/15/15); training on "train",
scoring on "val"; the test images are never loaded.

Usage: bin/bench recipe_baseline [--minutes 30] [--downsample 2] [--emps DIR] [--out DIR] [--limit N]
       [--baseline-epochs N] [--threads N] [--smoke]
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

from benchmarks._cli import add_patch_options, emps_parser, parse_emps_args
from dataset.splits import split_for
from foundation.digest import sha256_file
from foundation.schema import binary_schema
from ml.augment import AugmentConfig
from ml.checkpoint import load_model
from ml.data import find_samples, load_samples
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
    trainer_score: float  # the best validation score the trainer recorded
    score: float  # the saved best model, loaded back and evaluated on the validation images


def recipe_config(a: argparse.Namespace, in_channels: int, classes: int) -> TrainConfig:
    """TrainConfig's defaults with the budget, the data's channels and classes, and the run's sizes."""
    d = DEFAULTS
    decoder = a.decoder_channels if a.decoder_channels is not None else d.model.decoder_channels
    return replace(d, model=replace(d.model, in_channels=in_channels, classes=classes, decoder_channels=decoder),
                   patches=replace(d.patches, size=a.patch, per_epoch=a.patches_per_epoch),
                   preprocess=replace(d.preprocess, downsample=a.downsample),
                   batch_size=a.batch_size, epochs=LONG, patience=LONG, max_minutes=a.minutes, threads=a.threads)


def baseline_config(recipe: TrainConfig, epochs: int) -> TrainConfig:
    """The recipe less its additions: flips only, uniform patches, Dice + CE, one cosine over ``epochs``."""
    return replace(recipe, augment=FLIPS_ONLY, patches=replace(recipe.patches, class_balanced=False),
                   loss=replace(recipe.loss, name="dice_ce"), epochs=epochs, restart_epochs=epochs, patience=epochs)


def run(name: str, cfg: TrainConfig, train_s, val_s, out: Path) -> Outcome:
    """Train one config into out/name and score its saved best model on the validation images."""
    schema = binary_schema()
    t0 = time.perf_counter()
    result = train(cfg, schema, train_s, val_s, out / name, resume=False)
    minutes = (time.perf_counter() - t0) / 60
    state = result.state
    score = float("nan")
    if result.model_path.exists():
        model, _ = load_model(result.model_path)
        score = evaluate(model, val_s, schema, cfg.predict).metrics[SCORE]
    steps = state.epoch * (cfg.patches.per_epoch // cfg.batch_size)
    return Outcome(name, state.epoch, steps, minutes, result.stopped, state.best_epoch, state.best_score, score)


def split_files(emps: Path, limit: int | None):
    """The train and val files of the hash split (the first ``limit`` of them by name when given)."""
    files = [(f, split_for(sha256_file(f.images[0]))) for f in find_samples([emps / "images"], emps / "segmaps")]
    kept = [(f, s) for f, s in files if s in ("train", "val")][:limit]
    return [f for f, s in kept if s == "train"], [f for f, s in kept if s == "val"]


def table(outcomes: list[Outcome]) -> list[str]:
    rows = ["| run | steps | epochs | minutes | stopped | best epoch | trainer's best val IoU | val particle IoU |",
            "|---|---|---|---|---|---|---|---|"]
    rows += [f"| {o.name} | {o.steps} | {o.epochs} | {o.minutes:.2f} | {o.stopped} | {o.best_epoch} "
             f"| {o.trainer_score:.4f} | **{o.score:.4f}** |" for o in outcomes]
    return rows


def options() -> argparse.ArgumentParser:
    ap = emps_parser(__doc__, 30.0)
    ap.add_argument("--baseline-epochs", type=int, help="the baseline's epochs and cosine (default: the recipe's)")
    return add_patch_options(ap, DEFAULTS)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parse_emps_args(options(), SMOKE, argv)
    if a is None:
        return
    train_f, val_f = split_files(a.emps, a.limit)
    if not train_f or not val_f:
        raise SystemExit(f"{len(train_f)} training and {len(val_f)} validation images: need one of each")
    preprocess = replace(DEFAULTS.preprocess, downsample=a.downsample)
    schema = binary_schema()
    train_s = load_samples(train_f, schema, preprocess, "instance")
    val_s = load_samples(val_f, schema, preprocess, "instance")
    recipe = recipe_config(a, train_s[0].image.shape[0], schema.num_outputs)
    print(f"command: bin/bench recipe_baseline {shlex.join(argv)}".rstrip())
    print(f"machine: {cpu_model()}; {torch.get_num_threads()} torch threads; torch {torch.__version__}")
    print(f"{len(train_s)} training and {len(val_s)} validation images of {a.emps} (sha256 split 70/15/15, "
          f"test never loaded); downsample {a.downsample}; {a.minutes:g} minutes each; "
          f"batch {recipe.batch_size} of {recipe.patches.size}x{recipe.patches.size}, "
          f"{recipe.patches.per_epoch} patches per epoch")
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or Path(tmp)
        first = run("recipe", recipe, train_s, val_s, out)
        baseline = baseline_config(recipe, a.baseline_epochs or first.epochs)
        second = run("baseline", baseline, train_s, val_s, out)
    print("\n".join(table([first, second])))
    if second.score > 0:
        ratio = first.score / second.score
        verdict = f"{ratio:.3f} (goal >= 1.10: {'met' if ratio >= 1.10 else 'not met'})"
    else:
        verdict = "n/a (the baseline scored 0)"
    print(f"ratio recipe / baseline (val particle IoU): {verdict}")


if __name__ == "__main__":
    main()
