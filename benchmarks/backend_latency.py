"""ML backend latency: one 1024x768 task through the backend's HTTP /predict (what Label Studio calls), over the
raw forward time of the same image's tiles, in one run; cold start reported.

The backend runs as `grainloop backend` runs it (flows/backend.py, uvicorn in this process), without Label Studio:
a fresh loop workspace and MLflow store hold a registered champion (Unet-resnet18, trained briefly on synthetic
grains so its prediction holds grains to encode; --train-epochs 0: random weights), and the
benchmark posts Label Studio's request body to /predict. Cold start: a `grainloop backend --no-connect` process
from its launch until /health answers (imports, alias read, checkpoint download, model load, server up), and its
first request. Warm: the median of --repeats requests, each for a new task id (a repeated id is answered once).
Raw: ``model(batch)`` under inference_mode over the window batches the prediction runs
(``ml.predict.window_batches`` with the prediction's own window: one covering an image up to 1024 px), prepared
beforehand and timed between the warm requests. Goal: warm / raw <= 1.3.

    bin/bench backend_latency [--height 768 --width 1024] [--repeats 5] [--threads 2] [--strategy entropy]
        [--train-epochs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")

SMOKE = {"height": 96, "width": 128, "repeats": 1, "threads": 1, "decoder": 16, "train_epochs": 0}


def arguments(argv=None) -> argparse.Namespace:
    from benchmarks._cli import parse_args

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--height", type=int, default=768)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=5, help="warm requests (the median is reported)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--strategy", default="entropy", help="the loop's active-learning strategy (scores each image)")
    p.add_argument("--decoder", type=int, default=0, help="decoder channels of every stage (0: Unet's default)")
    p.add_argument("--train-epochs", type=int, default=3,
                   help="epochs (of 48 patches) training the champion on synthetic grains; 0: random weights")
    p.add_argument("--seed", type=int, default=0)
    return parse_args(p, SMOKE, argv)


def loop_with_champion(base: Path, args: argparse.Namespace):
    """A loop (workspace, store, images folder holding one synthetic image) whose champion is a random model."""
    import torch

    from flows.adopt import adopt_model
    from flows.initialize import make_workspace
    from flows.loop_config import LabelingTarget, LoopConfig
    from flows.tracking import TrackingConfig
    from foundation.schema import binary_schema
    from ml import runs
    from ml.checkpoint import ModelArtifact, save_model
    from ml.models import ModelConfig, build_model
    from ml.preprocess import PreprocessConfig
    from ml.synthetic import SyntheticConfig, write_dataset
    from ml.train_options import train_config

    write_dataset(base / "set", 1, SyntheticConfig(height=args.height, width=args.width), seed=args.seed)
    decoder = (args.decoder,) * 5 if args.decoder else None
    if args.train_epochs:  # a trained model: its prediction holds grains, so the encoding costs what it would
        write_dataset(base / "train", 8, SyntheticConfig(height=256, width=256), seed=args.seed + 1)
        cfg = train_config(decoder_channels=decoder, epochs=args.train_epochs, restart_epochs=args.train_epochs,
                           patch=128, patches_per_epoch=48, batch_size=8, lr=3e-3, seed=args.seed)
        spec = runs.TrainSpec([base / "train" / "images"], base / "train" / "masks", "class", binary_schema())
        model_file = runs.run_training(spec, cfg, base / "model").model_path
    else:
        torch.manual_seed(args.seed)
        config = ModelConfig(decoder_channels=decoder)
        model_file = save_model(base / "model.pt", build_model(config),
                                ModelArtifact(config, binary_schema(), PreprocessConfig()))
    train = train_config()
    root = make_workspace(base / "workspace", train).root
    target = LabelingTarget(base / "labelstudio.json", "bench", base / "set" / "images", base)
    loop = LoopConfig(root, target, binary_schema(), TrackingConfig.for_project(root, env={}), train,
                      strategy=args.strategy)
    adopt_model(loop, str(model_file))
    return loop, model_file


def raw_forward(model_file: Path, image_file: Path):
    """A function timing one raw pass (the summed forward time of the image's window batches, prepared
    beforehand; a warm-up batch first) of the network as the backend runs it (the same loader: the same CPU
    engine), and the windows it runs."""
    import torch

    from flows.task_predictions import load_predictor
    from ml.evaluate import fitting_config
    from ml.io import read_channels
    from ml.predict import PredictConfig, window_batches
    from ml.preprocess import fit

    model, artifact = load_predictor(model_file)
    image = read_channels([image_file])
    state = fit(image, artifact.preprocess)
    window = fitting_config(state.model_shape, PredictConfig())  # the windows the backend's prediction runs
    batches = list(window_batches(image, state, window))
    with torch.inference_mode():
        model(batches[0])

    def seconds() -> float:
        total = 0.0
        with torch.inference_mode():
            for batch in batches:
                start = time.perf_counter()
                model(batch)
                total += time.perf_counter() - start
        return total

    engine = f"{getattr(model, 'engine', 'torch')} {getattr(model, 'precision', 'fp32')}"
    return seconds, f"{sum(len(b) for b in batches)} of {window.tile}x{window.tile}, {engine}"


def post(url: str, task_id: int, source: str) -> tuple[float, list]:
    import httpx

    body = {"tasks": [{"id": task_id, "data": {"source": source, "tile": None}}], "project": "1.0",
            "label_config": "", "params": {}}
    start = time.perf_counter()
    answer = httpx.post(f"{url}/predict", json=body, timeout=600).json()
    return time.perf_counter() - start, answer["results"]


def cold_start(loop, base: Path, source: str, threads: int) -> tuple[float, float]:
    """Seconds from launching `grainloop backend` until /health answers, and of its first /predict."""
    import httpx

    from flows.loop_config import save_loop_config
    from labeling.server import free_port

    config, port = save_loop_config(loop, base / "loop.json"), free_port()
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "grainloop", "backend", "--config", str(config), "--no-connect",
                             "--port", str(port)], cwd=root, env=env, stdout=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"grainloop backend exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        up = time.perf_counter() - start
        return up, post(f"http://127.0.0.1:{port}", 1, source)[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(args: argparse.Namespace, base: Path) -> dict:
    from flows.backend import Backend, BackendConfig

    loop, model_file = loop_with_champion(base, args)
    source = sorted(p.name for p in loop.labeling.images.iterdir())[0]
    started, first = cold_start(loop, base, source, args.threads)
    raw_pass, tiles = raw_forward(model_file, loop.labeling.images / source)
    backend = Backend(loop, BackendConfig(connect=False)).start()
    warm, raw = [], []
    try:
        results = post(backend.url, 1, source)[1]
        for k in range(args.repeats):  # interleaved, so a change in the machine's load hits both alike
            warm.append(post(backend.url, 2 + k, source)[0])
            raw.append(raw_pass())
    finally:
        backend.stop()
    return {"started": started, "first": first, "warm": statistics.median(warm), "raw": statistics.median(raw),
            "tiles": tiles,
            "regions": len(results[0][0]["result"]) if results and results[0] else 0,
            "version": results[0][0]["model_version"] if results and results[0] else None}


def report(args: argparse.Namespace, r: dict) -> None:
    import torch

    ratio = r["warm"] / r["raw"]
    print(f"task {args.width}x{args.height}, strategy {args.strategy}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()}")
    print(f"champion {r['version']}: windows {r['tiles']}, {r['regions']} regions in the prediction")
    print(f"cold start: `grainloop backend` up in {r['started']:.2f} s, its first /predict {r['first']:.2f} s")
    print(f"warm /predict: {r['warm']:.2f} s; raw forward of its tiles {r['raw']:.2f} s (medians of {args.repeats}, "
          f"interleaved)")
    print(f"ratio /predict / raw forward: {ratio:.3f} (goal <= 1.3)")
    print("| task | windows | start s | first request s | warm request s | raw forward s | ratio |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.width}x{args.height} | {r['tiles']} | {r['started']:.2f} | {r['first']:.2f} | {r['warm']:.2f} "
          f"| {r['raw']:.2f} | {ratio:.3f} |")


def main(argv=None) -> None:
    import torch

    args = arguments(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="backend_latency_") as tmp:
        report(args, measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
