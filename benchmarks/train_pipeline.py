"""Training input pipeline: trainer images/s (patch sampling + preprocessing + augmentation + step) divided by
raw forward+backward+step images/s on ready tensors of the same batch shape, measured in one run.

Goal (issue 2): >= 0.85. Usage: bin/bench train_pipeline [--steps 30] [--batch 8] [--patch 256]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from benchmarks._cli import parse_args
from ml.train_options import train_config
from foundation.schema import binary_schema
from ml.augment import Augmenter
from ml.data import find_samples, load_samples
from ml.losses import build_loss
from ml.patches import PatchDataset
from ml.progress import SILENT
from ml.precision import resolve_precision
from ml.synthetic import SyntheticConfig, write_dataset
from ml.train import _components, _train_epoch

SMOKE = {"steps": 2, "batch": 2, "patch": 64, "images": 2, "image_size": 128, "threads": 1}


def _raw(model, opt, sched, loss_fn, batches) -> float:
    model.train()
    t0 = time.perf_counter()
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        sched.step()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=8, help="synthetic images to sample patches from")
    ap.add_argument("--image-size", type=int, default=1024, help="their side in pixels")
    a = parse_args(ap, SMOKE, argv)
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(Path(tmp), a.images, SyntheticConfig(height=a.image_size, width=a.image_size), seed=0)
        samples = load_samples(find_samples([Path(tmp) / "images"], Path(tmp) / "masks"), binary_schema())
    cfg = train_config(patch=a.patch, patches_per_epoch=a.steps * a.batch, batch_size=a.batch)
    data = PatchDataset(samples, cfg.patches, Augmenter(cfg.augment, 0), seed=0)
    data.set_epoch(1)
    model, opt, sched = _components(cfg, a.steps)
    loss_fn = build_loss(cfg.loss, 2)
    batches = [next(iter(DataLoader(data, batch_size=a.batch)))] * a.steps  # ready tensors, same shape
    _raw(model, opt, sched, loss_fn, batches[:3])  # warm-up
    raw = _raw(model, opt, sched, loss_fn, batches)
    t0 = time.perf_counter()
    _train_epoch(model, DataLoader(data, batch_size=a.batch, drop_last=True), loss_fn, opt, sched, SILENT,
                 cfg.predict.device, resolve_precision("fp32", cfg.predict.device))
    full = time.perf_counter() - t0
    n = a.steps * a.batch
    print(f"raw fwd+bwd+step: {n / raw:.2f} img/s; trainer with sampling+augmentation: {n / full:.2f} img/s; "
          f"ratio {raw / full:.3f} (goal >= 0.85); batch {a.batch} of {a.patch}x{a.patch}, {a.threads} threads")


if __name__ == "__main__":
    main()
