"""Training precision: trainer steps/s with the automatic precision (and forced bf16) over fp32, same machine, one
run, and the validation IoU each reaches after the same steps from the same initial weights and patches. Each
mode runs --repeats times, the modes taking turns, and its fastest run counts (a busy machine only slows runs).

Goal (issue 14): auto / fp32 >= 2.5 where the CPU has native bf16 (AMX or AVX512-BF16), never below 1.0
elsewhere; validation IoU within 0.01 of fp32's. Validation runs in fp32 for every mode and is not timed.

    bin/bench train_precision [--steps 60] [--batch 8] [--patch 256] [--modes fp32,auto,bf16] [--device cpu]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks._cli import parse_args
from foundation.schema import binary_schema
from ml.augment import Augmenter
from ml.data import find_samples, load_samples, split_samples
from ml.evaluate import evaluate
from ml.losses import build_loss
from ml.patches import PatchDataset, epoch_loader
from ml.precision import cpu_flags, cpu_model, native_cpu_bf16, resolve_precision
from ml.progress import SILENT
from ml.synthetic import sem_field, write_dataset
from ml.train import SCORE, _components, _train_epoch
from ml.train_options import train_config

SMOKE = {"steps": 2, "batch": 2, "patch": 64, "images": 3, "image_size": 128, "threads": 1, "repeats": 1}


def run_mode(mode: str, train_s, val_s, a: argparse.Namespace) -> tuple[str, float, float]:
    """(resolved precision, training seconds, validation IoU) for ``a.steps`` steps from the seed's weights."""
    cfg = train_config(patch=a.patch, patches_per_epoch=a.steps * a.batch, batch_size=a.batch, precision=mode,
                       lr=a.lr, restart_epochs=1, decoder_channels=(64, 32, 16, 16, 16))
    cfg = replace(cfg, predict=replace(cfg.predict, device=a.device))
    precision = resolve_precision(mode, a.device)
    model, opt, sched = _components(cfg, a.steps)
    model = precision.model(model)
    data = PatchDataset(train_s, cfg.patches, Augmenter(cfg.augment, 0), seed=0)
    data.set_epoch(1)
    loader = epoch_loader(data, a.batch)
    torch.manual_seed(1)
    t0 = time.perf_counter()
    _train_epoch(model, loader, build_loss(cfg.loss, 2).to(a.device), opt, sched, SILENT, a.device, precision)
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    model = model.to(memory_format=torch.contiguous_format)
    return precision.name, seconds, evaluate(model, val_s, binary_schema(), cfg.predict).metrics[SCORE]


def _taking_turns(modes: list[str], train_s, val_s, a: argparse.Namespace) -> dict[str, list]:
    runs: dict[str, list] = {mode: [] for mode in modes}
    for _ in range(a.repeats):
        for mode in modes:
            runs[mode].append(run_mode(mode, train_s, val_s, a))
    return runs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=12, help="generated SEM fields (a quarter for validation)")
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--modes", default="fp32,auto,bf16", help="comma-separated; fp32 first, the reference")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device (cuda: a GPU's mixed precision against its fp32)")
    a = parse_args(ap, SMOKE, argv)
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(Path(tmp), a.images, sem_field(a.image_size), seed=0)
        samples = load_samples(find_samples([Path(tmp) / "images"], Path(tmp) / "masks"), binary_schema())
    train_s, val_s = split_samples(samples, 0.25)
    bf16_flags = sorted(f for f in cpu_flags() if "bf16" in f)
    print(f"CPU: {cpu_model()}; native bf16: {native_cpu_bf16(frozenset(bf16_flags))} "
          f"({', '.join(bf16_flags) or 'no bf16 flags'}); {a.threads} threads; "
          f"{a.steps} steps of {a.batch} patches of {a.patch}x{a.patch}; {len(val_s)} validation images; "
          f"device {a.device}{' (' + torch.cuda.get_device_name() + ')' if a.device.startswith('cuda') else ''}")
    modes = a.modes.split(",")
    runs = _taking_turns(modes, train_s, val_s, a)
    reference = None
    for mode in modes:
        resolved, seconds, iou = min(runs[mode], key=lambda r: r[1])
        reference = reference or (seconds, iou)
        print(f"{mode} ({resolved}): {a.steps / seconds:.3f} steps/s, val {SCORE} {iou:.4f}; "
              f"throughput / fp32 {reference[0] / seconds:.2f}, IoU - fp32 {iou - reference[1]:+.4f}")


if __name__ == "__main__":
    main()
