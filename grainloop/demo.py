"""`grainloop demo`, the main job: the full loop on one machine (see flows/demo.py), then a report.

Prefect runs without a server (a temporary local one per process), with its state inside the demo folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

console = Console()


def prefect_env(state: Path) -> None:
    """Prefect's no-server mode with its database in the demo folder, quiet and offline (before it is imported)."""
    os.environ.setdefault("PREFECT_HOME", str(state.resolve() / "prefect"))
    for key, value in (("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("DO_NOT_TRACK", "1"),
                       ("PREFECT_LOGGING_LEVEL", "WARNING"), ("MLFLOW_DISABLE_TELEMETRY", "true")):
        os.environ.setdefault(key, value)


def sample_data(out: Path, n: int, size: int, seed: int) -> tuple[Path, Path]:
    from ml.synthetic import SyntheticConfig, write_dataset

    folder = out / "sample"
    if not (folder / "manifest.json").exists():
        write_dataset(folder, n, SyntheticConfig(height=size, width=size), seed)
    return folder / "images", folder / "masks"


def curve_rows(loop, reports) -> list[dict]:
    """Per cycle: labeled images, dataset version, champion and its mean IoU on that version's test split."""
    from flows.cycle import dataset_folder
    from flows.evaluation import EvalTarget, evaluate_version
    from flows.versioning import versions

    by_tag = {v.tag: v for v in versions(loop.versions)}
    rows = []
    for k, r in enumerate(reports, start=1):
        iou = None
        if r.champion and r.dataset:
            target = EvalTarget(dataset_folder(loop, by_tag[r.dataset]), r.dataset)
            iou = evaluate_version(loop.tracking, r.champion, target).get("mean_fg_iou")
        rows.append({"cycle": k, "dataset": r.dataset, "champion": r.champion, "test_mean_fg_iou": iou,
                     "images": _images(loop, r.dataset)})
    return rows


def _images(loop, tag) -> int:
    from ml.dataset.manifest import read_manifest

    folder = loop.state_dir / "datasets" / (tag or "")
    return len(read_manifest(folder)) if tag and folder.exists() else 0


def report(loop, reports, rows, urls: dict, out: Path) -> None:
    from flows.tracking import client
    from ml.report import write_rows

    table = Table(title="learning curve (champion on the newest test split)")
    for col in ("cycle", "images", "dataset", "champion", "test_mean_fg_iou"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in
                        ("cycle", "images", "dataset", "champion", "test_mean_fg_iou")))
    console.print(table)
    write_rows(out / "learning_curve.csv", rows)
    champion = reports[-1].champion
    if champion:
        tags = client(loop.tracking).get_model_version(loop.tracking.model_name, champion).tags
        lineage = {k: v for k, v in tags.items() if k in ("grainloop.dataset", "grainloop.data_dvc_md5",
                                                             "grainloop.git_sha", "grainloop.schema_hash")}
        console.print(f"champion: {loop.tracking.model_name} version {champion}; lineage {lineage}")
    for name, url in urls.items():
        console.print(f"{name}: {url}")
    console.print("The annotations came from a SIMULATED annotator (ground truth). Stop the services with "
                  "`grainloop down`.")


def run_demo(out: Path, cycles: int = 3, per_cycle: int = 8, minutes: float = 1.0, n_images: int = 40,
             size: int = 192, seed: int = 0, images: Optional[Path] = None, masks: Optional[Path] = None,
             strategy: str = "entropy") -> list[dict]:
    prefect_env(out)
    from flows.demo import DemoConfig, run
    from flows.mlflow_server import MlflowServerConfig, up as mlflow_up
    from grainloop import runs
    from grainloop.schema import binary_schema
    from labeling.server import free_port, port_is_free

    console.rule("grainloop demo: Label Studio -> DVC -> training -> MLflow -> pre-annotations")
    if images is None or masks is None:
        images, masks = sample_data(out, n_images, size, seed)
    train = runs.train_config(decoder_channels=(64, 32, 16, 16, 16), epochs=12, minutes=minutes, patch=128,
                              patches_per_epoch=64, batch_size=8, lr=2e-3, restart_epochs=12, seed=seed, patience=12)
    cfg = DemoConfig(out, images, masks, train, cycles, per_cycle, strategy)
    loop, reports, ls_url = run(cfg, binary_schema(), log=console.print)
    port = 5000 if port_is_free("127.0.0.1", 5000) else free_port()
    server, _ = mlflow_up(MlflowServerConfig(project=loop.workspace, port=port))
    rows = curve_rows(loop, reports)
    report(loop, reports, rows, {"Label Studio": ls_url, "MLflow": server.url}, out)
    return rows
