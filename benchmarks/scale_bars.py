"""Issue 17 figure: how many images of a folder (EMPS by default) give a pixel size from their scale bar.

Reads every image's burned-in scale bar with foundation.scalebar (the bar, its label by Tesseract OCR) and prints
how many gave a reading, how many of those reach each confidence (0.8 is the loop's ACCEPT_CONFIDENCE: used
without a person's confirmation), the units read, and the seconds per image. ``--out FILE`` writes every
image's reading as JSON, for spot-checking by eye.

Usage: bin/bench scale_bars [--images ../shared/data/emps/images] [--limit N] [--out readings.json] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from benchmarks._cli import parse_args
from dataset.scales import ACCEPT_CONFIDENCE
from foundation.scalebar import read_scale_bar_file
from foundation.semimage import is_image

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (0.5, 0.6, 0.7, ACCEPT_CONFIDENCE, 0.9)
SMOKE = {"limit": 3}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "emps" / "images")
    parser.add_argument("--limit", type=int, default=None, help="the first N images (sorted by name)")
    parser.add_argument("--out", type=Path, default=None, help="every image's reading as JSON")
    args = parse_args(parser, SMOKE, argv)
    if not args.images.is_dir():
        print(f"no image folder at {args.images}: skipped")
        return
    files = sorted(p for p in args.images.iterdir() if is_image(p))[:args.limit]
    start, readings = time.perf_counter(), {}
    for path in files:
        reading = read_scale_bar_file(path)
        readings[path.name] = reading.to_dict() if reading else None
    seconds = time.perf_counter() - start
    found = [r for r in readings.values() if r]
    print(f"images: {len(files)} in {args.images}")
    print(f"with a scale-bar reading: {len(found)} ({100 * len(found) / max(len(files), 1):.1f}%)")
    for level in LEVELS:
        n = sum(r["confidence"] >= level for r in found)
        print(f"confidence >= {level}: {n} ({100 * n / max(len(files), 1):.1f}% of the images)")
    print("units: " + ", ".join(f"{u} {n}" for u, n in sorted(Counter(r["unit"] for r in found).items())))
    print(f"seconds per image: {seconds / max(len(files), 1):.2f}")
    if args.out:
        args.out.write_text(json.dumps(readings, indent=1, ensure_ascii=False) + "\n")
        print(f"readings: {args.out}")


if __name__ == "__main__":
    main()
