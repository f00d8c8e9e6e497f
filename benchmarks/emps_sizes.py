"""Issue 6 figure: grain-size D50 on EMPS from the ground-truth instance maps, and from a model's predictions.

Prints the equivalent-circular-diameter D50 (number- and area-weighted, in pixels: EMPS PNGs carry no pixel
size) of the ground-truth grains over all images and over the validation split (the split `grainloop train`
uses: sha256 of the image id, 20% validation). With ``--model`` (a model.pt from `grainloop train`) it also
predicts the validation images, splits the predictions into grains and prints the predicted D50, the KS and
Wasserstein distances to the ground-truth distribution and the instance metrics (F1 and AP50 at IoU 0.5, PQ,
count error). Grains cut by the image border or banner are left out of the distributions (``--include-cut``
keeps them); every grain is either measured or counted as dropped (below ``--min-area``).

Usage: bin/bench emps_sizes [--model runs/emps-benchmark/model.pt] [--data ../shared/data/emps] [--masks segmaps]
       [--val-fraction 0.2] [--min-area 10] [--limit N] [--smoke]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._cli import parse_args
from ml.banner import detect_banner
from ml.data import find_samples, split_of
from ml.distributions import size_distribution_error, size_summary, sized_grains
from ml.instance_metrics import InstanceMetrics
from ml.instances import InstanceConfig, instances_from_instance_map
from ml.io import read_channels, read_mask
from ml.measure import predicted_instances
from ml.morphometry import GrainImage, measure
from foundation.instrument import PixelSize

ROOT = Path(__file__).resolve().parents[1]
UNKNOWN = PixelSize(None, "unknown (EMPS PNG)")
SMOKE = {"limit": 6, "threads": 1}


def truth_tables(files, min_area: int) -> tuple[pd.DataFrame, dict[str, np.ndarray], int, int]:
    """Grain table of the ground-truth instance maps, the maps themselves, grains found and dropped."""
    tables, maps, found, dropped = [], {}, 0, 0
    for f in files:
        image, inst = read_channels(f.images), instances_from_instance_map(read_mask(f.mask), None, min_area)
        tables.append(measure(GrainImage(f.id, inst, UNKNOWN, image, detect_banner(image))))
        maps[f.id] = inst.labels
        found, dropped = found + inst.count + len(inst.dropped), dropped + len(inst.dropped)
    return pd.concat(tables, ignore_index=True), maps, found, dropped


def predicted_table(model: Path, files, truth: dict[str, np.ndarray], cfg: InstanceConfig):
    """Grain table of the model's predictions and the instance metrics against the ground truth."""
    from ml.checkpoint import load_model

    net, artifact = load_model(model)
    metrics, tables = InstanceMetrics(), []
    for f in files:
        image = read_channels(f.images)
        inst, banner = predicted_instances(net, artifact, image, cfg)
        tables.append(measure(GrainImage(f.id, inst, UNKNOWN, image, banner)))
        metrics.update(truth[f.id], inst.labels, f.id)
    return pd.concat(tables, ignore_index=True), metrics.compute()


def _line(name: str, table: pd.DataFrame, include_cut: bool) -> str:
    kept = sized_grains(table, include_cut)
    s = size_summary(kept["ecd_px"], kept["area_px"])
    return (f"{name}: {s['n']} grains, ECD D10/D50/D90 {s['d10']:.1f}/{s['d50']:.1f}/{s['d90']:.1f} px, "
            f"area-weighted D50 {s['d50_area']:.1f} px")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "emps")
    ap.add_argument("--masks", default="segmaps", help="instance-map folder under --data")
    ap.add_argument("--model", type=Path)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--min-area", type=int, default=10)
    ap.add_argument("--include-cut", action="store_true")
    ap.add_argument("--limit", type=int, help="first N images only (a quick check)")
    ap.add_argument("--threads", type=int, help="torch threads for --model (default: torch's)")
    args = parse_args(ap, SMOKE, argv)
    if not (args.data / "images").is_dir():
        raise SystemExit(f"no images at {args.data / 'images'}")
    start = time.perf_counter()
    files = find_samples([args.data / "images"], args.data / args.masks)[: args.limit]
    truth, maps, found, dropped = truth_tables(files, args.min_area)
    val_ids = {f.id for f in files if split_of(f.id, args.val_fraction) == "val"}
    val_truth = truth[truth["image"].isin(val_ids)]
    print(f"{len(files)} images ({len(val_ids)} validation); {found} ground-truth grains: {len(truth)} measured, "
          f"{dropped} dropped below {args.min_area} px, {int(truth['cut_by_edge'].sum())} cut by border or banner "
          f"({'kept' if args.include_cut else 'left out of the distributions'})")
    print(_line("GT, all images", truth, args.include_cut))
    print(_line("GT, validation split", val_truth, args.include_cut))
    if args.model and not val_ids:
        print("model: no validation images among these, nothing predicted")
    elif args.model:
        val_files = [f for f in files if f.id in val_ids]
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        pred, inst_metrics = predicted_table(args.model, val_files, maps, InstanceConfig(min_area=args.min_area))
        print(_line("model, validation split", pred, args.include_cut))
        d = size_distribution_error(sized_grains(pred, args.include_cut)["ecd_px"],
                                    sized_grains(val_truth, args.include_cut)["ecd_px"])
        print(f"model vs GT (validation): KS {d['ks']:.3f}, Wasserstein {d['wasserstein']:.2f} px; "
              f"F1@0.5 {inst_metrics['f1']:.3f}, AP50 {inst_metrics['ap50']:.3f}, PQ {inst_metrics['pq']:.3f}, "
              f"count error {inst_metrics['count_error']:+d} ({inst_metrics['count_rel_error']:+.1%})")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
