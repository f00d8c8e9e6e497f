"""Peak resident memory of predict_tiff on a huge tiled 8-bit TIFF (goal: <= 3 GB at 20000 x 20000).

Writes a synthetic uint8 tiled TIFF (256 x 256 tiles, streamed: the whole image is never in memory) with an
instrument banner at the bottom, then runs ``predict_tiff`` on it in a child process and reports the child's
peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits, and psutil sampling while it runs), the
wall time and the output sizes. The model is random. A 20000^2 image is ~2000 windows of 512^2, ~1 s each
for a resnet18 model on 2 CPU cores: ``--arch tiny`` (three small convolutions, smp still imported) runs the
whole pipeline at full size in minutes; ``--height`` keeps the full width (what memory scales with) and
runs a real model on fewer window rows:

    bin/bench predict_memory --size 20000 --arch tiny
    bin/bench predict_memory --size 20000 --height 1536 --arch linknet --encoder resnet18
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._cli import parse_args as _parse

REPO = Path(__file__).resolve().parents[1]
TILE = 256
SMOKE = {"size": 512, "arch": "tiny", "tile": 128, "overlap": 16, "batch": 2, "threads": 1}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=20000, help="image side in pixels")
    p.add_argument("--height", type=int, default=None, help="image height (default: --size)")
    p.add_argument("--arch", default="linknet", help="an ml.models architecture, or 'tiny'")
    p.add_argument("--encoder", default="resnet18")
    p.add_argument("--decoder-channels", default="", help="comma-separated, e.g. 64,32,16,16,16 (unet)")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-uncertainty", action="store_true", help="skip the entropy TIFF")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder, removed afterwards")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return _parse(p, SMOKE, argv)


def _tiles(height: int, width: int, banner_rows: int, seed: int = 0):
    """Grey texture with pixel noise; a black banner with white 'text' blocks in the bottom rows."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:TILE, 0:TILE].astype(np.float32)
    for ty in range(0, height, TILE):
        for tx in range(0, width, TILE):
            base = 128 + 50 * np.sin((xx + tx) / 37.0) * np.cos((yy + ty) / 53.0)
            tile = np.clip(base + rng.normal(0, 12, (TILE, TILE)), 0, 255).astype(np.uint8)
            rows = np.arange(ty, ty + TILE) >= height - banner_rows
            tile[rows] = np.where(rng.random((rows.sum(), TILE)) < 0.1, 255, 0)
            yield tile


def write_input(path: Path, height: int, width: int) -> None:
    import tifffile

    tifffile.imwrite(path, _tiles(height, width, banner_rows=height // 20), shape=(height, width), dtype=np.uint8,
                     tile=(TILE, TILE), bigtiff=height * width >= 2**31)


def tiny_model(classes: int = 2):
    """A cheap stand-in network (no segmentation_head: predict finds the class count by one forward)."""
    import torch

    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                         nn.ReLU(), nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(16, classes, 3, padding=1))


def child(spec: str) -> None:
    """Runs in the measured process: build the model, predict, print the summary as JSON."""
    import torch

    from ml.models import ModelConfig, build_model
    from ml.predict import PredictConfig, predict_tiff

    a = json.loads(spec)
    torch.set_num_threads(a["threads"])
    torch.manual_seed(0)
    decoder = tuple(a["decoder"]) or None
    if a["arch"] == "tiny":
        model = tiny_model()
    else:
        model = build_model(ModelConfig(arch=a["arch"], encoder=a["encoder"], decoder_channels=decoder))
    cfg = PredictConfig(tile=a["tile"], overlap=a["overlap"], batch_size=a["batch"])
    summary = predict_tiff(model, a["src"], a["dst"], cfg, uncertainty_dst=a["unc"])
    print(json.dumps(summary))


def run_child(spec: dict) -> dict:
    """Run the child; its summary plus wall s, peak RSS (getrusage and psutil samples, GB), time of the peak."""
    import psutil

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start, sampled, peak_at = time.perf_counter(), 0, 0.0
    proc = subprocess.Popen([sys.executable, "-P", "-m", "benchmarks.predict_memory", "--child", json.dumps(spec)],
                            env=env, stdout=subprocess.PIPE, text=True)
    watch = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss = watch.memory_info().rss
        except psutil.NoSuchProcess:
            break
        sampled, peak_at = (rss, time.perf_counter() - start) if rss > sampled else (sampled, peak_at)
        time.sleep(0.25)
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"child failed with exit status {proc.returncode}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kB on Linux
    return {"summary": json.loads(out.strip().splitlines()[-1]), "wall": time.perf_counter() - start,
            "peak_gb": peak / 1e9, "sampled_gb": sampled / 1e9, "peak_at": peak_at}


def _spec(args: argparse.Namespace, work: Path) -> dict:
    return {"src": str(work / "input.tif"), "dst": str(work / "labels.tif"),
            "unc": None if args.no_uncertainty else str(work / "entropy.tif"),
            "arch": args.arch, "encoder": args.encoder, "tile": args.tile, "overlap": args.overlap,
            "batch": args.batch, "threads": args.threads,
            "decoder": [int(c) for c in args.decoder_channels.split(",") if c]}


def _report(args: argparse.Namespace, spec: dict, r: dict, height: int) -> None:
    model = "tiny" if args.arch == "tiny" else f"{args.arch}-{args.encoder}"
    sizes = {k: round(Path(spec[k]).stat().st_size / 1e6, 2) for k in ("dst", "unc") if spec[k]}
    print(f"summary: {r['summary']}")
    print(f"model {model} decoder {spec['decoder'] or 'default'}, tile {args.tile}, "
          f"overlap {args.overlap}, batch {args.batch}, threads {args.threads}")
    print(f"peak RSS (getrusage): {r['peak_gb']:.3f} GB; sampled (psutil): {r['sampled_gb']:.3f} GB "
          f"at {r['peak_at']:.0f} s (goal <= 3 GB)")
    print(f"wall: {r['wall']:.0f} s ({height * args.size / r['wall'] / 1e6:.2f} MPix/s); outputs MB: {sizes}")
    print("| H x W | model | tiles | wall s | peak RSS GB |")
    print("|---|---|---|---|---|")
    print(f"| {height}x{args.size} | {model} | {r['summary']['n_tiles']} | {r['wall']:.0f} "
          f"| {r['peak_gb']:.3f} |")


def measure(args: argparse.Namespace, work: Path) -> None:
    spec, height, start = _spec(args, work), args.height or args.size, time.perf_counter()
    write_input(Path(spec["src"]), height, args.size)
    print(f"wrote input: {height}x{args.size} (HxW) uint8 tiled, {Path(spec['src']).stat().st_size / 1e6:.0f} MB "
          f"in {time.perf_counter() - start:.0f} s; load average before: {os.getloadavg()}")
    result = run_child(spec)
    print(f"load average after: {os.getloadavg()}")
    _report(args, spec, result, height)


def main() -> None:
    args = parse_args()
    if args.child is not None:
        return child(args.child)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return measure(args, args.workdir)
    with tempfile.TemporaryDirectory(prefix="predict_memory_") as tmp:
        measure(args, Path(tmp))


if __name__ == "__main__":
    main()
