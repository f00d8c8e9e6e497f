"""`grainloop demo`, the main job: the full loop on one machine (see flows/demo.py), then a report.

Prefect runs without a server (a temporary local one per process), with its state inside the demo folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

from flows.prefect_env import prefect_env
from flows.tracking import KIND_DEMO, LINEAGE_TAGS, SCORE, TAG_KIND, TAG_STRATEGY, client, tracked_run

console = Console()
IOU_COLUMN = f"test_{SCORE}"  # the champion's score on the newest dataset version's test split


def sample_data(out: Path, n: int, size: int, seed: int) -> tuple[Path, Path]:
    """Generated SEM grains, noisier and more crowded than the generator's defaults, so that a few labeled images
    are not already enough and the learning curve has somewhere to go."""
    from ml.synthetic import SyntheticConfig, write_dataset

    folder = out / "sample"
    if not (folder / "manifest.json").exists():
        cfg = SyntheticConfig(height=size, width=size, grains=(20, 45), noise=0.18, curtaining=0.7, touching=0.8)
        write_dataset(folder, n, cfg, seed)
    return folder / "images", folder / "masks"


def curve_rows(loop, reports) -> list[dict]:
    """Per cycle: labeled images, dataset version, champion and its mean IoU on that version's test split."""
    from flows.train import dataset_folder
    from flows.evaluation import EvalTarget, evaluate_version
    from dataset.versioning import versions

    by_tag = {v.tag: v for v in versions(loop.versions)}
    rows = []
    for k, r in enumerate(reports, start=1):
        iou = None
        if r.champion and r.dataset:
            target = EvalTarget(dataset_folder(loop, by_tag[r.dataset]), r.dataset)
            iou = evaluate_version(loop.tracking, r.champion, target).get(SCORE)
        seconds = {f"s_{name}": round(t, 1) for name, t in r.seconds.items()}
        rows.append({"cycle": k, "dataset": r.dataset, "champion": r.champion, IOU_COLUMN: iou,
                     "images": _images(loop, r.dataset), "s_cycle": round(sum(r.seconds.values()), 1), **seconds})
    return rows


def _images(loop, tag) -> int:
    from dataset.manifest import read_manifest

    folder = loop.state_dir / "datasets" / (tag or "")
    return len(read_manifest(folder)) if tag and folder.exists() else 0


COLUMNS = ("cycle", "images", "dataset", "champion", IOU_COLUMN, "s_cycle")


def _table(rows: list[dict]) -> Table:
    table = Table(title="learning curve (champion on the newest test split; s_cycle: seconds of the cycle)")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*(f"{r.get(c):.4f}" if isinstance(r.get(c), float) and c != "s_cycle" else
                        "-" if r.get(c) is None else str(r.get(c)) for c in COLUMNS))
    return table


def save_curve(loop, rows: list[dict], out: Path, strategy: str) -> Path:
    """learning_curve.csv and .png in the demo folder, and both in an MLflow run of their own."""
    from flows.registry import log_files
    from ml.report import write_rows
    from ml.simulate_report import plot_campaigns

    points = [{"strategy": f"champion ({strategy})", "n_labeled": r["images"], "iou": r[IOU_COLUMN]}
              for r in rows if r[IOU_COLUMN] is not None]
    files = [write_rows(out / "learning_curve.csv", rows), plot_campaigns(out / "learning_curve.png", points)]
    with tracked_run(loop.tracking, "demo learning curve", {TAG_KIND: KIND_DEMO, TAG_STRATEGY: strategy}):
        log_files(files)
    return files[1]


def report(loop, reports, rows, urls: dict, out: Path, strategy: str = "entropy") -> None:
    console.print(_table(rows))
    console.print(f"learning curve: {save_curve(loop, rows, out, strategy)}")
    champion = reports[-1].champion
    if champion:
        tags = client(loop.tracking).get_model_version(loop.tracking.model_name, champion).tags
        lineage = {k: v for k, v in tags.items() if k in LINEAGE_TAGS}
        console.print(f"champion: {loop.tracking.model_name} version {champion}; lineage {lineage}")
    for name, url in {**urls, "Prefect": _prefect_ui()}.items():
        console.print(f"{name}: {url}")
    console.print("The annotations came from a SIMULATED annotator (ground truth). Stop the services with "
                  "`grainloop down`.")


def _prefect_ui() -> str:
    import os

    api = os.environ.get("PREFECT_API_URL")
    if api:
        return api.removesuffix("/api")
    return ("no server (no-server mode, the runs are in " + os.environ.get("PREFECT_HOME", "PREFECT_HOME") +
            "); for a UI: `prefect server start`, then PREFECT_API_URL=http://127.0.0.1:4200/api grainloop demo")


@dataclass(frozen=True)
class DemoOptions:
    """What `grainloop demo` is asked for on the command line."""

    out: Path = Path("runs/demo")
    cycles: int = 3
    per_cycle: int = 8
    minutes: float = 1.0  # training budget per cycle
    epochs: int = 12  # of 64 patches, within the budget
    min_iou: float = 0.3  # the first champion's minimum mean foreground test IoU
    images: Optional[Path] = None  # real images instead of generated ones (with masks)
    masks: Optional[Path] = None
    mask_kind: str = "class"
    strategy: str = "entropy"
    n_images: int = 40
    size: int = 192
    seed: int = 0

    def __post_init__(self) -> None:
        from ml.data import check_mask_kind

        check_mask_kind(self.mask_kind)
        if (self.images is None) != (self.masks is None):
            raise ValueError("--images and --masks go together")


def demo_config(opts: DemoOptions):
    from flows.demo import DemoConfig
    from ml.train_options import train_config

    images, masks = (opts.images, opts.masks) if opts.images else sample_data(opts.out, opts.n_images, opts.size,
                                                                              opts.seed)
    train = train_config(decoder_channels=(64, 32, 16, 16, 16), epochs=opts.epochs, minutes=opts.minutes,
                              patch=128, patches_per_epoch=64, batch_size=8, lr=2e-3, restart_epochs=opts.epochs,
                              seed=opts.seed, patience=opts.epochs)
    return DemoConfig(opts.out, images, masks, train, opts.cycles, opts.per_cycle, opts.strategy,
                      mask_kind=opts.mask_kind, min_iou=opts.min_iou)


def run_demo(opts: DemoOptions) -> list[dict]:
    prefect_env(opts.out)
    from flows.demo import run
    from flows.mlflow_server import MlflowServerConfig, up as mlflow_up
    from foundation.schema import binary_schema
    from labeling.server import port_or_free

    console.rule("grainloop demo: Label Studio -> DVC -> training -> MLflow -> pre-annotations")
    loop, reports, ls_url = run(demo_config(opts), binary_schema(), log=console.print)
    port = port_or_free(5000)
    server, _ = mlflow_up(MlflowServerConfig(project=loop.workspace, port=port))
    rows = curve_rows(loop, reports)
    report(loop, reports, rows, {"Label Studio": ls_url, "MLflow": server.url}, opts.out, opts.strategy)
    return rows
