"""A smaller copy of EMPS for a machine it must travel to (a lent GPU takes 64 MiB): not a benchmark itself.

EMPS stores its grey images as RGB PNGs with three equal channels; ml.io reads those as one channel, so a grey
PNG gives the benchmarks the same pixels in about a third of the bytes. The split is by each image file's sha256,
which re-encoding changes, so the copy records the originals' hashes in `sha256sums` (benchmarks._cli.emps_splits
reads them) and every image keeps its split. Instance maps are copied as they are. `--splits train,val` leaves
the test images behind (for `emps_grains --train-only`, which decodes and scores them later, where EMPS is).

    .venv/bin/python -m benchmarks._emps_copy DEST [--emps ../shared/data/emps] [--splits train,val,test]
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks._cli import EMPS, HASHES, emps_digests
from dataset.splits import split_for
from ml.io import read_image


def copy(emps: Path, dest: Path, splits: tuple[str, ...] = ("train", "val", "test")) -> int:
    """Write the copy of the images in ``splits`` and their instance maps; the number of images."""
    (dest / "images").mkdir(parents=True, exist_ok=True)
    (dest / "segmaps").mkdir(parents=True, exist_ok=True)
    sums = []
    for f, digest in emps_digests(emps):
        if split_for(digest) not in splits:
            continue
        path = f.images[0]
        pixels = read_image(path)
        if pixels.shape[0] != 1:
            raise SystemExit(f"{path.name}: {pixels.shape[0]} distinct channels, not a grey image")
        Image.fromarray(np.ascontiguousarray(pixels[0])).save(dest / "images" / path.name, optimize=True)
        shutil.copy2(f.mask, dest / "segmaps" / f.mask.name)
        sums.append(f"{digest}  images/{path.name}")
    (dest / HASHES).write_text("\n".join(sums) + "\n")
    return len(sums)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--emps", type=Path, default=EMPS)
    ap.add_argument("--splits", default="train,val,test", help="comma-separated: the splits to copy")
    a = ap.parse_args(argv)
    print(f"{copy(a.emps, a.dest, tuple(a.splits.split(',')))} images copied to {a.dest}")


if __name__ == "__main__":
    main()
