"""`grainloop demo`: the main job. For now: synthetic SEM grains -> train -> evaluate -> report.

Later issues extend it to the full loop (Label Studio, DVC dataset versions, MLflow registry, Prefect).
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from grainloop import runs
from grainloop.schema import binary_schema
from ml.checkpoint import load_model
from ml.predict import PredictConfig
from ml.synthetic import SyntheticConfig, write_dataset

console = Console()


def _data(out: Path, n: int, size: int, seed: int) -> tuple[Path, Path]:
    cfg = SyntheticConfig(height=size, width=size)
    train_dir, test_dir = out / "data" / "train", out / "data" / "test"
    if not (train_dir / "manifest.json").exists():
        write_dataset(train_dir, n, cfg, seed)
    if not (test_dir / "manifest.json").exists():
        write_dataset(test_dir, max(4, n // 4), cfg, seed + 1)
    return train_dir, test_dir


def _report(metrics: dict, out: Path) -> None:
    table = Table(title="held-out synthetic test images")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("mean_fg_iou", "iou/grain", "dice/grain", "boundary_f1", "pixel_accuracy", "n_images"):
        value = metrics.get(key)
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"model: {out / 'model' / 'model.pt'}\nlearning curve: {out / 'model' / 'learning_curve.png'}\n"
                  f"overlays: {out / 'evaluation' / 'overlays'}")


def run_demo(out: Path, minutes: float = 3.0, n_images: int = 40, size: int = 256, seed: int = 0) -> dict:
    console.rule("grainloop demo: synthetic SEM grains")
    train_dir, test_dir = _data(out, n_images, size, seed)
    spec = runs.TrainSpec([train_dir / "images"], train_dir / "masks", "class", binary_schema(), resume=False)
    cfg = runs.train_config(decoder_channels=(64, 32, 16, 16, 16), epochs=30, minutes=minutes, patch=128,
                            patches_per_epoch=64, batch_size=8, lr=2e-3, restart_epochs=30, seed=seed, patience=8)
    runs.run_training(spec, cfg, out / "model", progress=True, log=console.print)
    model, artifact = load_model(out / "model" / "model.pt")
    metrics = runs.run_evaluation(model, artifact, [test_dir / "images"], test_dir / "masks", "class",
                                  out / "evaluation", PredictConfig(tile=256, overlap=64))
    _report(metrics, out)
    return metrics
