"""Predict overhead: predict_image wall time over the summed raw forward time of the same tile batches.

Both are measured in one run on one synthetic image: first every model input batch that predict_image
runs (``ml.predict.window_batches``, prepared beforehand) is timed through ``model(batch)`` alone under
``torch.inference_mode()``; then ``predict_image`` (preprocess fit, reading, blending, argmax included)
is timed on the same image. Goal: ratio <= 1.15 for a 4096 x 4096 image. As a cross-check on a shared,
busy machine, the forward calls made inside the predict pass are also timed (a thin wrapper).

    bin/bench predict_overhead --size 4096 --tile 512 --overlap 64 --batch 4
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from benchmarks._cli import parse_args as _parse

SMOKE = {"size": 256, "tile": 128, "overlap": 16, "batch": 2, "threads": 1}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=4096, help="image side in pixels")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--window", default="hann")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    return _parse(p, SMOKE, argv)


def structured_noise(size: int, seed: int) -> np.ndarray:
    """uint8 blobs at a few scales plus pixel noise: texture without a banner."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), np.float32)
    for cells, amp in ((16, 60.0), (128, 30.0), (size // 4, 15.0)):
        img += amp * cv2.resize(rng.random((cells, cells), np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 8, (size, size)).astype(np.float32)
    return np.clip(img + 128 - img.mean(), 0, 255).astype(np.uint8)


class TimedModel(torch.nn.Module):
    """The model, with the time spent in its forward calls summed (a second, same-pass measure)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.segmentation_head, self.seconds = model, model.segmentation_head, 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self.model(x)
        self.seconds += time.perf_counter() - start
        return out


def raw_forward_seconds(model: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    total = 0.0
    with torch.inference_mode():
        for batch in batches:
            start = time.perf_counter()
            model(batch)
            total += time.perf_counter() - start
    return total


def measure(args: argparse.Namespace) -> dict:
    """Raw forward pass over the prepared batches, then the predict pass; both timed in this process."""
    from ml.models import ModelConfig, build_model
    from ml.predict import PredictConfig, predict_image, window_batches
    from ml.preprocess import fit

    torch.manual_seed(args.seed)
    model = build_model(ModelConfig(arch="unet", encoder="resnet18", in_channels=1, classes=2)).eval()
    image = structured_noise(args.size, args.seed)
    cfg = PredictConfig(tile=args.tile, overlap=args.overlap, window=args.window, batch_size=args.batch)
    batches = list(window_batches(image, fit(image), cfg))
    with torch.inference_mode():
        model(batches[0])  # warm-up, counted in neither
    n_tiles, raw = sum(len(b) for b in batches), raw_forward_seconds(model, batches)
    del batches
    timed, start = TimedModel(model), time.perf_counter()
    pred = predict_image(timed, image, cfg)
    wall = time.perf_counter() - start
    return {"n_tiles": n_tiles, "raw": raw, "wall": wall, "inside": timed.seconds, "pred": pred}


def report(args: argparse.Namespace, r: dict) -> None:
    ratio = r["wall"] / r["raw"]
    print(f"image {args.size}x{args.size} uint8, tile {args.tile}, overlap {args.overlap}, batch {args.batch}, "
          f"window {args.window}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    print(f"tiles: {r['n_tiles']}; labels {r['pred'].labels.shape}, banner {r['pred'].banner}")
    print(f"raw forward sum: {r['raw']:.2f} s ({r['n_tiles'] * args.tile**2 / r['raw'] / 1e6:.2f} MPix/s of windows)")
    print(f"predict_image wall: {r['wall']:.2f} s ({args.size**2 / r['wall'] / 1e6:.2f} MPix/s of image)")
    print(f"ratio: {ratio:.3f} (goal <= 1.15)")
    print(f"cross-check: forward time inside the predict pass {r['inside']:.2f} s, "
          f"wall / that = {r['wall'] / r['inside']:.3f}")
    print("| size | tile | overlap | batch | tiles | raw forward s | predict s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.size} | {args.tile} | {args.overlap} | {args.batch} | {r['n_tiles']} | {r['raw']:.2f} "
          f"| {r['wall']:.2f} | {ratio:.3f} |")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    report(args, measure(args))


if __name__ == "__main__":
    main()
