"""Issue 14 figure: semi-supervised training (mean teacher) against labels alone, at 10 / 25 / 50 labelled EMPS images.

For each labelled count and seed, in one run: the seed picks that many images from the EMPS hash split's "train"
images; the other training images are the unlabeled pool. Two models train for the same number of steps (same
config, seed and initial weights): on the labelled images alone, and with `--semi mean_teacher` on the pool too
(ml/semi.py). The trainer keeps each run's best epoch on validation images; that model is scored on the test
images (mean foreground IoU `mean_fg_iou`, the particle IoU, by ml.evaluate). Prints a markdown table, and per
labelled count the mean ratio semi / labels alone over the seeds with its range. Goal at 25: >= 1.05.

Data: EMPS as laid out in ../shared/data/emps (images/, segmaps/ instance maps; absent: the script says so and
exits 0). Split: the dataset package's sha256 hash split (70/15/15); --val-images of the validation images (the
first by name) select each run's best epoch, so validation does not eat the budget.

`--method pretrain` compares self-supervised pretraining instead: masked-block filling on the labelled images and
the pool (ml/pretrain.py, `--pretrain-steps`), then the same training on the labels from those weights.

Usage: bin/bench semi_supervised [--labelled 25] [--seeds 0,1,2] [--epochs 20] [--downsample 2] [--out DIR]
       [--method mean_teacher|self_training|pretrain] [--pretrain-steps N] [--threads N] [--smoke]
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from benchmarks._cli import emps_splits, ints, parse_emps_args
from foundation.schema import binary_schema
from ml.checkpoint import load_model
from ml.data import load_samples
from ml.evaluate import evaluate
from ml.precision import cpu_model
from ml.self_training import train_student
from ml.pretrain import PretrainConfig, pretrain
from ml.semi import METHODS, PRETRAIN, PRETRAIN_STEPS, SemiConfig
from ml.train import SCORE, TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = TrainConfig()
SMOKE = {"labelled": "2", "seeds": "0", "epochs": 3, "patch": 64, "patches_per_epoch": 8, "batch_size": 4,
         "val_images": 2, "test_images": 2, "threads": 1, "pretrain_steps": 4}


@dataclass(frozen=True)
class Pair:
    labelled: int
    seed: int
    alone: float  # test particle IoU, labels alone
    semi: float  # the same with the unlabeled pool
    minutes: tuple[float, float]

    @property
    def ratio(self) -> float:
        return self.semi / self.alone if self.alone > 0 else float("nan")


def split(emps: Path, limit: int | None) -> dict[str, list]:
    """The hash split's files by split name (the first ``limit`` by name when given)."""
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for f, name in emps_splits(emps)[:limit]:
        out[name].append(f)
    return out


def config(a: argparse.Namespace, in_channels: int, semi: bool) -> TrainConfig:
    d = DEFAULTS
    model = replace(d.model, in_channels=in_channels, classes=binary_schema().num_outputs)
    if a.decoder_channels:
        model = replace(model, decoder_channels=a.decoder_channels)
    return replace(d, model=model, patches=replace(d.patches, size=a.patch, per_epoch=a.patches_per_epoch),
                   preprocess=replace(d.preprocess, downsample=a.downsample), batch_size=a.batch_size,
                   epochs=a.epochs, restart_epochs=a.epochs, patience=a.epochs, threads=a.threads,
                   semi=semi_config(a) if semi else SemiConfig())


def semi_config(a: argparse.Namespace) -> SemiConfig:
    return SemiConfig(method=a.method, threshold=a.threshold, weight=a.weight, ema=a.ema,
                      start_epoch=a.start_epoch, ramp_epochs=a.ramp_epochs, cutmix=a.cutmix)


def test_iou(model_file: Path, test, cfg: TrainConfig) -> float:
    model, _ = load_model(model_file)
    return evaluate(model, test, binary_schema(), cfg.predict).metrics[SCORE]


def score(cfg: TrainConfig, labelled, pool, val, test, out: Path) -> tuple[float, float]:
    """Train (on ``pool`` too when cfg.semi is on; a finished run in ``out`` is read back); the saved best model's
    test particle IoU, and minutes."""
    t0 = time.perf_counter()
    result = train(cfg, binary_schema(), labelled, val, out, resume=True, unlabeled=pool)
    return test_iou(result.model_path, test, cfg), (time.perf_counter() - t0) / 60


def self_trained(cfg: TrainConfig, teacher: Path, labelled, pool, val, test, out: Path) -> tuple[float, float]:
    """Self-training's second run (``ml.self_training.train_student``) from the labels-alone run's model: its test
    particle IoU, and minutes (labelling the pool included)."""
    t0 = time.perf_counter()
    result = train_student(cfg, binary_schema(), teacher, labelled, val, pool, out)
    return test_iou(result.model_path, test, cfg), (time.perf_counter() - t0) / 60


def pretrained(cfg: TrainConfig, pcfg: PretrainConfig, labelled, pool, val, test, out: Path) -> tuple[float, float]:
    """Masked-block pretraining on the labelled images and the pool (ml/pretrain.py), then training on the labels
    from those weights: its test particle IoU, and minutes (pretraining included)."""
    t0 = time.perf_counter()
    weights = pretrain(cfg, pcfg, [*labelled, *pool], out / "pretrain")
    result = train(cfg, binary_schema(), labelled, val, out, resume=True, init_weights=weights)
    return test_iou(result.model_path, test, cfg), (time.perf_counter() - t0) / 60


def pair(a: argparse.Namespace, n: int, seed: int, train_s, val, test, out: Path) -> Pair:
    order = np.random.default_rng(seed).permutation(len(train_s))
    labelled = [train_s[i] for i in order[:n]]
    pool = [replace(train_s[i], target=None, instances=None) for i in order[n:]]
    alone_cfg = replace(config(a, train_s[0].image.shape[0], False), seed=seed)
    semi_cfg = replace(config(a, train_s[0].image.shape[0], True), seed=seed)
    alone = score(alone_cfg, labelled, pool, val, test, out / f"n{n}-s{seed}-alone")
    print(f"  {n} labelled, seed {seed}, alone: test IoU {alone[0]:.4f} ({alone[1]:.1f} min)", flush=True)
    if a.method == PRETRAIN:
        pcfg = PretrainConfig(steps=a.pretrain_steps, mask_ratio=a.mask_ratio, block=a.block)
        semi = pretrained(alone_cfg, pcfg, labelled, pool, val, test, out / f"n{n}-s{seed}-pretrained")
    elif semi_cfg.semi.online:
        semi = score(semi_cfg, labelled, pool, val, test, out / f"n{n}-s{seed}-semi{'-cutmix' * a.cutmix}")
    else:
        semi = self_trained(semi_cfg, out / f"n{n}-s{seed}-alone" / "model.pt", labelled, pool, val, test,
                            out / f"n{n}-s{seed}-self")
    print(f"  {n} labelled, seed {seed}, {a.method}: test IoU {semi[0]:.4f} ({semi[1]:.1f} min)", flush=True)
    return Pair(n, seed, alone[0], semi[0], (alone[1], semi[1]))


def report(pairs: list[Pair]) -> list[str]:
    rows = ["| labelled | seed | labels alone | + unlabeled pool | ratio | minutes (alone, semi) |",
            "|---|---|---|---|---|---|"]
    rows += [f"| {p.labelled} | {p.seed} | {p.alone:.4f} | {p.semi:.4f} | {p.ratio:.3f} "
             f"| {p.minutes[0]:.1f}, {p.minutes[1]:.1f} |" for p in pairs]
    for n in sorted({p.labelled for p in pairs}):
        ratios = [p.ratio for p in pairs if p.labelled == n]
        goal = f" (goal >= 1.05: {'met' if statistics.mean(ratios) >= 1.05 else 'not met'})" if n == 25 else ""
        rows.append(f"\n{n} labelled: mean ratio {statistics.mean(ratios):.3f} over {len(ratios)} seed(s), "
                    f"range {min(ratios):.3f} to {max(ratios):.3f}{goal}")
    return rows


def options() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emps", type=Path, default=ROOT.parent / "shared" / "data" / "emps")
    ap.add_argument("--labelled", type=ints, default=(25,), help="labelled image counts, e.g. 10,25,50")
    ap.add_argument("--seeds", type=ints, default=(0, 1, 2))
    ap.add_argument("--epochs", type=int, default=20, help="the same for both runs of a pair")
    ap.add_argument("--downsample", type=int, default=2)
    ap.add_argument("--patch", type=int, default=DEFAULTS.patches.size)
    ap.add_argument("--patches-per-epoch", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    ap.add_argument("--decoder-channels", type=ints, default=(128, 64, 32, 16, 16))
    ap.add_argument("--method", choices=METHODS[1:], default="mean_teacher",
                    help="mean_teacher (online), self_training (a second run on the alone run's confident maps) or "
                         "pretrain (masked-block filling on every training image first)")
    ap.add_argument("--pretrain-steps", type=int, default=PRETRAIN_STEPS, help="--method pretrain's steps")
    ap.add_argument("--mask-ratio", type=float, default=PretrainConfig.mask_ratio, help="share of blocks hidden")
    ap.add_argument("--block", type=int, default=PretrainConfig.block, help="a hidden block's side (model pixels)")
    ap.add_argument("--threshold", type=float, default=SemiConfig.threshold, help="teacher confidence")
    ap.add_argument("--weight", type=float, default=SemiConfig.weight, help="pseudo-label loss weight")
    ap.add_argument("--ema", type=float, default=SemiConfig.ema, help="the teacher's moving-average decay per step")
    ap.add_argument("--start-epoch", type=int, default=SemiConfig.start_epoch, help="epochs on labels alone first")
    ap.add_argument("--ramp-epochs", type=int, default=SemiConfig.ramp_epochs)
    ap.add_argument("--cutmix", action="store_true", help="mean teacher: paste a box of another unlabeled patch and "
                                                          "its pseudo-label into the student's view")
    ap.add_argument("--val-images", type=int, default=16, help="validation images that pick the best epoch")
    ap.add_argument("--test-images", type=int, help="score on the first N test images only (default: all)")
    ap.add_argument("--limit", type=int, help="the first N EMPS images by name only (a quick check)")
    ap.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    return ap


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parse_emps_args(options(), SMOKE, argv)
    if a is None:
        return
    files = split(a.emps, a.limit)
    load = lambda fs: load_samples(fs, binary_schema(), replace(DEFAULTS.preprocess, downsample=a.downsample), "instance")
    if len(files["train"]) <= max(a.labelled) or not files["val"] or not files["test"]:
        raise SystemExit(f"{len(files['train'])} training, {len(files['val'])} validation and {len(files['test'])} "
                         f"test images: need more training images than {max(a.labelled)} and one of each other")
    train_s, val, test = load(files["train"]), load(files["val"][:a.val_images]), load(files["test"][:a.test_images])
    print(f"command: bin/bench semi_supervised {shlex.join(argv)}".rstrip())
    print(f"machine: {cpu_model()}; {torch.get_num_threads()} torch threads; torch {torch.__version__}")
    print(f"{len(train_s)} training images (labelled + pool), {len(val)} validation, {len(test)} test; "
          f"{a.epochs} epochs of {a.patches_per_epoch // a.batch_size} steps (batch {a.batch_size} of {a.patch}px)")
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or Path(tmp)
        pairs = [pair(a, n, s, train_s, val, test, out) for n in a.labelled for s in a.seeds]
    print("\n".join(report(pairs)))


if __name__ == "__main__":
    main()
