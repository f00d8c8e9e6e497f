"""Issue 14 figures: grains you can count on EMPS test images, from a model with a boundary class.

Trains Unet-resnet18 on the EMPS hash split's training images with the boundary schema (grain, and the boundary
between touching grains learnt from the instance maps), within a wall-clock budget, keeping its best epoch on
the validation images. Then, on the validation images only, it picks the decoding (test-time flips or not; the
boundary-class split, the watershed of the predicted grain cores, or a distance-transform watershed or connected
components of the grain map; the minimum grain area) by the grain goals it meets there (count error, PQ, KS), then
by panoptic quality, and reports the chosen decoding's figures on the test images:

- particle IoU (all test pixels, banners excluded, the boundary class counted as grain);
- the median over images of the relative grain count error |predicted - true| / true;
- panoptic quality and F1 at IoU 0.5 against the EMPS instance maps;
- the KS distance between predicted and true equivalent-diameter distributions (grains cut by the border left out).

Goals (issue 14): particle IoU >= 0.75 within 30 CPU-minutes, count error <= 0.20, PQ >= 0.50, KS <= 0.10.
Training follows `--profile`: `recipe` is TrainConfig's defaults, `plain` the plain baseline of
`bin/bench recipe_baseline` (flips only, uniform patches, Dice + CE, one cosine over `--epochs`), which won there.
`--model` skips training and decodes a model.pt trained before (its schema must have the boundary class for the
boundary split). `--no-boundary` trains the class-only model (grain/background) to compare: the grid then holds the
grain map's splits only. `--device cuda --workers 8 --train-only --out DIR` trains on a GPU and leaves the
decoding (CPU work) to a later `--model DIR/grains/model.pt`. EMPS absent: the script says so and exits 0.

Usage: bin/bench emps_grains [--minutes 30] [--profile plain|recipe] [--epochs 40] [--model PATH] [--out DIR]
       [--tta both|on|off] [--no-boundary] [--device cpu|cuda] [--workers N] [--train-only] [--limit N]
       [--threads N] [--smoke]
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from benchmarks._cli import add_patch_options, emps_parser, parse_emps_args
from benchmarks.recipe_baseline import grains_config, recipe_config
from benchmarks.semi_supervised import split as split_files  # the EMPS hash split's files by split name
from foundation.schema import LabelSchema, binary_schema
from ml.checkpoint import load_model
from ml.data import Sample, load_samples
from ml.decoding import GRAIN_GOALS, choose, met, probabilities, true_grains
from ml.grain_eval import instance_grain_metrics
from ml.instances import InstanceConfig, instances_from_class_map
from ml.metrics import SIZE_ERROR, SegmentationMetrics
from ml.precision import cpu_model
from ml.targets import IGNORE_INDEX, class_map_from_prediction
from ml.train import SCORE, TrainConfig, train

DEFAULTS = TrainConfig()
SMOKE = {"minutes": 0.05, "epochs": 1, "patch": 64, "patches_per_epoch": 8, "batch_size": 4,
         "decoder_channels": "16,16,16,16,16", "threads": 1}
GOALS = {SCORE: (">=", 0.75), **GRAIN_GOALS}


@dataclass(frozen=True)
class Decoding:
    tta: bool
    method: str  # boundary or core_watershed (the boundary class), watershed or components (the folded grain map)
    min_area: int
    h: float = 1.0

    def __str__(self) -> str:
        shown = f"{self.method} h={self.h:g}" if self.method.endswith("watershed") else self.method
        return f"{shown}, min area {self.min_area}{', flips' if self.tta else ''}"


def decodings(tta: tuple[bool, ...]) -> list[Decoding]:
    """The grid the validation images choose from."""
    splits = [("boundary", 1.0)] + [("core_watershed", h) for h in (2.0, 4.0, 8.0)] + \
        [("watershed", h) for h in (1.0, 2.0, 4.0, 8.0)] + [("components", 1.0)]
    return [Decoding(t, m, a, h) for t in tta for m, h in splits for a in (25, 50, 100)]


def decode(probs: np.ndarray, schema: LabelSchema, d: Decoding) -> np.ndarray:
    """Grain ids (0 background) from one image's probabilities."""
    class_map = probs.argmax(0)
    if d.method in ("boundary", "core_watershed"):
        cfg = InstanceConfig(min_area=d.min_area, method=d.method, h=d.h)
        return instances_from_class_map(class_map, schema, cfg, probs[-1].astype(np.float32)).labels
    folded = class_map_from_prediction(class_map, schema)
    cfg = InstanceConfig(min_area=d.min_area, method=d.method, h=d.h)
    return instances_from_class_map(folded, binary_schema(), cfg).labels


def particle_iou(samples: list[Sample], probs: dict[str, np.ndarray], schema: LabelSchema) -> float:
    """Particle IoU over the samples' pixels (banners excluded, the boundary class counted as grain)."""
    pixels = SegmentationMetrics(2, ["background", "grain"], ignore_index=IGNORE_INDEX)
    for s in samples:
        pixels.update(class_map_from_prediction(probs[s.id].argmax(0).astype(np.uint8), schema),
                      class_map_from_prediction(s.target, schema), image_id=s.id)
    return pixels.compute()[SCORE]


def score(truths: dict[str, np.ndarray], probs: dict[str, np.ndarray], iou: float, schema: LabelSchema,
          d: Decoding) -> dict:
    """The particle IoU (it does not depend on the decoding) and the grain metrics of one decoding."""
    return {SCORE: iou, **instance_grain_metrics(truths, {k: decode(probs[k], schema, d) for k in truths})}


def train_model(a: argparse.Namespace, schema: LabelSchema, train_s, val_s, out: Path) -> tuple[Path, str]:
    """Train within the budget; the saved best model and a line saying how the run went."""
    build = grains_config if a.profile == "plain" else recipe_config
    cfg = build(a, train_s[0].image.shape[0], schema.num_outputs)
    t0 = time.perf_counter()
    result = train(cfg, schema, train_s, val_s, out / "grains", resume=False)
    steps = result.state.epoch * (cfg.patches.per_epoch // cfg.batch_size)
    return result.model_path, (f"trained {result.state.epoch} epochs ({steps} steps) in "
                               f"{(time.perf_counter() - t0) / 60:.1f} min, stopped by {result.stopped}, best epoch "
                               f"{result.state.best_epoch}, precision {result.precision}, device {result.device}, "
                               f"{cfg.workers} patch workers")


def verdicts(metrics: dict) -> str:
    return "; ".join(f"{k} {metrics[k]:.3f} ({op} {goal:g}: {'met' if met(metrics[k], op, goal) else 'not met'})"
                     for k, (op, goal) in GOALS.items())


def row(name: str, m: dict) -> str:
    return (f"| {name} | {m[SCORE]:.4f} | {m['grains/count_rel_error_median']:.3f} | {m['grains/pq']:.3f} "
            f"| {m['grains/f1']:.3f} | {m[SIZE_ERROR]:.3f} | {m['grains/n_pred']} / {m['grains/n_true']} |")


HEADER = ["| decoding | particle IoU | median count error | PQ | F1 | KS | grains (pred / true) |",
          "|---|---|---|---|---|---|---|"]


def options() -> argparse.ArgumentParser:
    ap = emps_parser(__doc__, 30.0)
    ap.add_argument("--model", type=Path, help="decode this model.pt instead of training one")
    ap.add_argument("--profile", choices=("plain", "recipe"), default="plain")
    ap.add_argument("--epochs", type=int, default=40, help="the plain profile's epochs and cosine")
    ap.add_argument("--tta", choices=("both", "on", "off"), default="both",
                    help="test-time flips: validation tries both, or always / never flip")
    ap.add_argument("--no-boundary", action="store_true",
                    help="train grain/background only (the class-only model), decoded by the grain map's splits")
    ap.add_argument("--train-only", action="store_true", help="train into --out and stop (decode later with --model)")
    return add_patch_options(ap, DEFAULTS)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parse_emps_args(options(), SMOKE, argv)
    if a is None:
        return
    if a.train_only and not a.out:
        raise SystemExit("--train-only keeps the model in --out: give one")
    files = split_files(a.emps, a.limit)
    needed = ("train", "val") if a.train_only else tuple(files)  # --train-only scores no test image
    if not all(files[k] for k in needed):
        raise SystemExit(f"split sizes {({k: len(v) for k, v in files.items()})}: need an image in each")
    schema = binary_schema(boundary=not a.no_boundary)
    preprocess = replace(DEFAULTS.preprocess, downsample=a.downsample)
    samples = {k: load_samples(files[k], schema, preprocess, "instance") for k in needed}
    print(f"command: bin/bench emps_grains {shlex.join(argv)}".rstrip())
    gpu = f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() and a.device != "cpu" else ""
    print(f"machine: {cpu_model()}; {torch.get_num_threads()} torch threads; torch {torch.__version__}{gpu}")
    print(f"EMPS hash split: {', '.join(f'{len(v)} {k}' for k, v in files.items())}; downsample {a.downsample}")
    with tempfile.TemporaryDirectory() as tmp:
        model_path, how = (a.model, f"model {a.model}") if a.model else train_model(
            a, schema, samples["train"], samples["val"], Path(a.out or tmp))
        print(how)
        if a.train_only:
            return
        net, artifact = load_model(model_path)
    schema = artifact.schema
    t0 = time.perf_counter()
    tta = {"both": (False, True), "on": (True,), "off": (False,)}[a.tta]
    val_probs = {t: probabilities(net, samples["val"], t) for t in tta}
    grid = [d for d in decodings(tta) if schema.boundary or d.method not in ("boundary", "core_watershed")]
    val_truth = true_grains(samples["val"])
    val_iou = {t: particle_iou(samples["val"], val_probs[t], schema) for t in tta}
    on_val = [(d, score(val_truth, val_probs[d.tta], val_iou[d.tta], schema, d)) for d in grid]
    best = choose(on_val)
    print(f"\nvalidation ({len(samples['val'])} images; chooses the decoding that meets most grain goals, then by PQ):")
    print("\n".join(HEADER + [row(str(d), m) for d, m in on_val]))
    del val_probs
    test_probs = probabilities(net, samples["test"], best.tta)
    plain = Decoding(best.tta, "watershed", 10)
    print(f"\ntest ({len(samples['test'])} images):")
    test_truth, test_iou = true_grains(samples["test"]), particle_iou(samples["test"], test_probs, schema)
    chosen = score(test_truth, test_probs, test_iou, schema, best)
    print("\n".join(HEADER + [row(f"chosen: {best}", chosen),
                              row(f"for scale: {plain}", score(test_truth, test_probs, test_iou, schema, plain))]))
    print(f"decoding and scoring: {(time.perf_counter() - t0) / 60:.1f} min")
    print(f"goals on test: {verdicts(chosen)}")


if __name__ == "__main__":
    main()
