"""CPU inference engines: seconds per batch of tiles and throughput over PyTorch fp32 eager for every engine and
precision (ml.engine), side by side in one run, with the pixel agreement of a trained model's class maps with fp32
eager and the test IoU change. Each mode is timed --repeats times, the modes taking turns; its fastest run counts.

Goal (issue 16): auto / fp32 eager >= 6 on a CPU with native bf16 (AMX or AVX512-BF16), >= 2 without; class maps
equal to fp32 eager on >= 99.9% of pixels (fp32) or >= 99.5% (bf16, int8).
Data: EMPS as laid out in ../shared/data/emps (images/, segmaps/ instance maps; the project's hash split), or with
--synthetic (or EMPS absent) generated SEM fields. The model (Unet-resnet18 by default) is trained for --minutes and
kept at --out/model.pt, reused by later runs (--retrain to train again); it is scored on the test images at its own
downsampling (--downsample 2: EMPS particles are large for a 256 px patch at full resolution).

    bin/bench inference_engines [--tile 512] [--batch 4] [--threads 2] [--minutes 10] [--synthetic]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from benchmarks._cli import parse_args
from dataset.splits import split_for
from foundation.digest import sha256_file
from foundation.schema import binary_schema
from ml.checkpoint import load_model
from ml.data import find_samples, load_samples
from ml.engine import EngineConfig, accelerate
from ml.engine_export import calibration_windows
from ml.evaluate import evaluate
from ml.precision import cpu_flags, cpu_model, native_cpu_bf16
from ml.predict import PredictConfig, window_batches
from ml.synthetic import sem_field, write_dataset
from ml.train import SCORE, train
from ml.train_options import DEFAULTS, train_config

EMPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "emps"
MODES = "torch:fp32,torch:bf16,onnxruntime:fp32,onnxruntime:int8,openvino:fp32,openvino:bf16,openvino:int8,auto:auto"
SMOKE = {"tile": 64, "batch": 2, "threads": 1, "repeats": 1, "minutes": 0.05, "epochs": 1, "patch": 64,
         "patches_per_epoch": 16, "downsample": 1,
         "test_images": 2, "batches": 1, "synthetic": True, "image_size": 128, "decoder_channels": "16,16,16,16,16"}


def options() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="resnet18")
    ap.add_argument("--decoder-channels", default=None, help="e.g. 128,64,32,16,8 (default: the architecture's)")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--batches", type=int, default=2, help="batches of tiles timed per repeat")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default=MODES, help="comma-separated engine:precision; torch:fp32 first, the reference")
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget of the model")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--patches-per-epoch", type=int, default=256)
    ap.add_argument("--downsample", type=int, default=2, help="of the trained model (EMPS particles need it)")
    ap.add_argument("--test-images", type=int, default=6)
    ap.add_argument("--emps", type=Path, default=EMPS)
    ap.add_argument("--synthetic", action="store_true", help="generated SEM fields instead of EMPS")
    ap.add_argument("--image-size", type=int, default=512, help="with --synthetic")
    ap.add_argument("--out", type=Path, default=None, help="where the trained model is kept (default: a temporary "
                                                             "folder; runs/bench_inference_engines to keep it)")
    ap.add_argument("--retrain", action="store_true")
    return ap


def data(a: argparse.Namespace, tmp: Path) -> tuple[list, list, list, str]:
    """Training, validation and test samples (preprocessed at --downsample), and what they are."""
    preprocess = replace(DEFAULTS.preprocess, downsample=a.downsample)
    if a.synthetic or not (a.emps / "images").is_dir():
        write_dataset(tmp / "synthetic", 16 + a.test_images, sem_field(a.image_size), seed=0)
        files = find_samples([tmp / "synthetic" / "images"], tmp / "synthetic" / "masks")
        load = lambda fs: load_samples(fs, binary_schema(), preprocess)
        test, val, tr = files[:a.test_images], files[a.test_images:a.test_images + 3], files[a.test_images + 3:]
        return load(tr), load(val), load(test), f"{len(files)} generated SEM fields of {a.image_size} px"
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    for f in find_samples([a.emps / "images"], a.emps / "segmaps"):
        split[split_for(sha256_file(f.images[0]))].append(f)
    load = lambda fs: load_samples(fs, binary_schema(), preprocess, "instance")
    return load(split["train"]), load(split["val"][:8]), load(split["test"][:a.test_images]), f"EMPS at {a.emps}"


def trained_model(a: argparse.Namespace, train_s, val_s, folder: Path) -> Path:
    path = folder / "model.pt"
    if path.exists() and not a.retrain:
        return path
    decoder = tuple(int(v) for v in a.decoder_channels.split(",")) if a.decoder_channels else None
    cfg = train_config(encoder=a.encoder, decoder_channels=decoder, epochs=a.epochs, minutes=a.minutes, patch=a.patch,
                       patches_per_epoch=a.patches_per_epoch, batch_size=8, threads=a.threads, downsample=a.downsample)
    return train(cfg, binary_schema(), train_s, val_s, folder, resume=False).model_path


def tile_batches(test, a: argparse.Namespace) -> list[torch.Tensor]:
    """``a.batches`` batches of ``a.batch`` model-input windows of the test images, as predict makes them."""
    cfg = PredictConfig(tile=a.tile, overlap=a.tile // 4, batch_size=1)
    windows = [w for s in test for w in window_batches(s.image, s.state, cfg)]
    while len(windows) < a.batch * a.batches:
        windows += windows
    return [torch.cat(windows[k * a.batch:(k + 1) * a.batch]) for k in range(a.batches)]


def seconds_per_batch(model: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    with torch.inference_mode():
        model(batches[0])  # warm-up
        start = time.perf_counter()
        for b in batches:
            model(b)
    return (time.perf_counter() - start) / len(batches)


def main(argv=None) -> None:
    a = parse_args(options(), SMOKE, argv)
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        train_s, val_s, test, what = data(a, Path(tmp))
        folder = a.out or Path(tmp) / "model"
        model_file = trained_model(a, train_s, val_s, folder)
        eager, artifact = load_model(model_file)
        predict = PredictConfig(tile=a.tile, overlap=a.tile // 4, batch_size=a.batch)
        calibration = calibration_windows([s.image for s in train_s], artifact.preprocess, predict)  # not test
        modes = [tuple(m.split(":")) for m in a.modes.split(",")]
        engines = {m: accelerate(eager, model_file, EngineConfig(m[0], m[1], threads=a.threads),
                                 calibration if m[1] in ("int8", "auto") else None) for m in modes}
        batches = tile_batches(test, a)
        times: dict[tuple, list[float]] = {m: [] for m in modes}
        for _ in range(a.repeats):
            for m in modes:
                times[m].append(seconds_per_batch(engines[m], batches))
        report(a, modes, engines, times, test, what, eager, artifact.schema)


def report(a, modes, engines, times, test, what, eager, schema) -> None:
    bf16_flags = sorted(f for f in cpu_flags() if "bf16" in f or f == "avx2")
    native = native_cpu_bf16(cpu_flags())
    print(f"CPU: {cpu_model()}; native bf16: {native} ({', '.join(bf16_flags) or 'no bf16 or avx2 flags'}); "
          f"{a.threads} threads; torch {torch.__version__}")
    print(f"model: Unet-{a.encoder} ({', '.join(schema.output_names)}) trained on {what}; "
          f"batch {a.batch} of {a.tile}x{a.tile} tiles; {len(test)} test images")
    cfg = PredictConfig(tile=a.tile, overlap=a.tile // 4, batch_size=a.batch)
    reference = evaluate(eager, test, schema, cfg, keep_predictions=True)
    ref_seconds = min(times[modes[0]])
    print("| engine | precision | s / batch | throughput / fp32 eager | pixels equal to fp32 eager | test IoU "
          "| IoU change |")
    print("|---|---|---|---|---|---|---|")
    notes = []
    for m in modes:
        fast = engines[m]
        notes += [f"{m[0]}:{m[1]}: {fast.note}"] if getattr(fast, "note", "") else []
        ev = evaluate(fast, test, schema, cfg, keep_predictions=True)
        same = np.mean(np.concatenate([(ev.predictions[k] == v).ravel() for k, v in reference.predictions.items()]))
        name = f"{m[0]} ({getattr(fast, 'engine', 'torch')})" if m[0] == "auto" else m[0]
        precision = f"{m[1]} ({getattr(fast, 'precision', 'fp32')})" if m[1] == "auto" else m[1]
        print(f"| {name} | {precision} | {min(times[m]):.3f} | {ref_seconds / min(times[m]):.2f} | {same:.4%} | "
              f"{ev.metrics[SCORE]:.4f} | {ev.metrics[SCORE] - reference.metrics[SCORE]:+.4f} |")
    print("\n".join(notes))
    if ("auto", "auto") in times:
        ratio = ref_seconds / min(times[("auto", "auto")])
        print(f"auto / fp32 eager: {ratio:.2f} (goal >= {6 if native else 2} on this CPU)")


if __name__ == "__main__":
    main()
