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
IOU_COLUMN = f"test_{SCORE}"  # the champion's score on the newest dataset version's test split (it grows)
HELDOUT_COLUMN = f"heldout_{SCORE}"  # the champion's score on the fixed held-out images (never imported)
EDIT_COLUMN = "edit_cost"  # mean 1 - IoU(pre-annotation, submitted) of the annotations this cycle synced (its
# sync's figure, the one `grainloop status` shows per cycle)
HELDOUT_SEED = 1_000_003  # added to --seed: the held-out images never coincide with the imported ones
DARK_GRAINS = 1.0  # every look asks for dark grains, which about half the substrates allow: a lab that images
# with both detectors (grains bright in secondary electrons, dark in backscatter), so one model must learn both


def sample_data(out: Path, n: int, size: int, seed: int, heldout: int = 0, first: int = 0,
                splits=None) -> tuple[Path, Path, Path | None]:
    """Generated SEM grain fields (ml.synthetic.sem_field: hundreds of small touching grains of log-normal
    sizes, every image with its own look, charging and curtaining; about half with grains darker than the
    substrate), and ``heldout`` more from another seed that are never imported: the fixed set every cycle's
    champion is scored on. Returns images, masks, held-out folder (None without held-out images). At least one
    of the first ``first`` images (in import order) is one the dataset will put in its test split (``splits``:
    the loop's SplitConfig), so the first champion can be judged."""
    from ml.synthetic import sem_field, write_dataset

    folder, cfg = out / "sample", sem_field(size, dark_grains=DARK_GRAINS)
    if not (folder / "manifest.json").exists():
        write_dataset(folder, n, cfg, seed)
        first_batch_split(folder, first, splits)
    held = out / "heldout" if heldout else None
    if held and not (held / "manifest.json").exists():
        write_dataset(held, heldout, cfg, seed + HELDOUT_SEED)
    return folder / "images", folder / "masks", held


def first_batch_split(folder: Path, first: int, splits=None) -> None:
    """Swap generated samples' names (files and manifest.json entries) so that exactly one of the first ``first``
    falls in the dataset's test split (splits go by the image's sha256): the first champion can be judged, and the
    rest of the batch trains it. (With the hash alone, seed 1 put 3 of its first 4 in the test split and trained
    the first champion on one image; capping them at half let it train on 2, under the first model's minimum;
    docs/benchmarks.md.)"""
    import json

    from dataset.manifest import sha256_file
    from dataset.splits import SplitConfig, split_for

    manifest = json.loads((folder / "manifest.json").read_text())
    entries, cfg = manifest["images"], splits or SplitConfig()
    is_test = [split_for(sha256_file(folder / e["image"]), cfg) == "test" for e in entries]
    head = [i for i in range(min(first, len(entries))) if is_test[i]]
    later_test = [i for i in range(first, len(entries)) if is_test[i]]
    later_other = [i for i in range(first, len(entries)) if not is_test[i]]
    if first and not head and later_test:
        _swap(folder, entries[first - 1], entries[later_test[0]])
    for i, j in zip(head[1:], later_other):  # the extra test images of the batch go later
        _swap(folder, entries[i], entries[j])
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _swap(folder: Path, a: dict, b: dict) -> None:
    for key in ("image", "mask", "instances"):
        tmp = folder / (a[key] + ".swap")
        (folder / a[key]).rename(tmp)
        (folder / b[key]).rename(folder / a[key])
        tmp.rename(folder / b[key])
    for key in ("seed", "n_grains", "banner"):
        a[key], b[key] = b[key], a[key]


def heldout_score(loop, version: str, folder: Path) -> float | None:
    """The version's mean foreground IoU on the held-out images (every image of the folder), recorded as an
    evaluation run on the version like any other (dataset ``heldout``)."""
    import tempfile

    from flows.evaluation import EvalTarget, checkpoint, record_evaluation
    from ml.checkpoint import load_model
    from ml.predict import PredictConfig
    from ml.runs import TrainSpec, run_evaluation

    with tempfile.TemporaryDirectory() as tmp:
        net, artifact = load_model(checkpoint(loop.tracking, version, Path(tmp)))
        spec = TrainSpec([folder / "images"], folder / "masks", "class", artifact.schema)
        metrics = run_evaluation(net, artifact, spec, Path(tmp) / "heldout", PredictConfig(), 4)
        metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        record_evaluation(loop.tracking, version, EvalTarget(folder, "heldout"), metrics, Path(tmp) / "heldout")
    return metrics.get(SCORE)


def curve_rows(loop, reports, heldout: Path | None = None) -> list[dict]:
    """Per cycle: labeled images, dataset version, champion, its mean IoU on that version's test split and on
    the held-out images, and the mean edit cost of the annotations the cycle synced (none in the first cycle:
    nothing was pre-annotated yet)."""
    from dataset.manifest import read_manifest
    from dataset.versioning import versions
    from flows.evaluation import EvalTarget, evaluate_version
    from flows.train import dataset_folder

    by_tag = {v.tag: v for v in versions(loop.versions)}
    rows, scored = [], {}
    for k, r in enumerate(reports, start=1):
        folder = dataset_folder(loop, by_tag[r.dataset]) if r.dataset else None
        manifest = read_manifest(folder) if folder else []
        iou = held = None
        if r.champion and folder:
            iou = evaluate_version(loop.tracking, r.champion, EvalTarget(folder, r.dataset)).get(SCORE)
        if r.champion and heldout:
            if r.champion not in scored:
                scored[r.champion] = heldout_score(loop, r.champion, heldout)
            held = scored[r.champion]
        seconds = {f"s_{name}": round(t, 1) for name, t in r.seconds.items()}
        rows.append({"cycle": k, "dataset": r.dataset, "champion": r.champion, IOU_COLUMN: iou,
                     HELDOUT_COLUMN: held, EDIT_COLUMN: r.sync.edit_cost, "edited": r.sync.edited,
                     "images": len(manifest), "s_cycle": round(sum(r.seconds.values()), 1), **seconds})
    return rows


COLUMNS = ("cycle", "images", "dataset", "champion", HELDOUT_COLUMN, IOU_COLUMN, EDIT_COLUMN, "s_cycle")


def _cell(row: dict, col: str) -> str:
    value = row.get(col)
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) and col != "s_cycle" else str(value)


def _table(rows: list[dict]) -> Table:
    table = Table(title=f"learning curve ({HELDOUT_COLUMN}: champion on the fixed held-out images; {IOU_COLUMN}: on "
                        f"the newest test split; {EDIT_COLUMN}: 1 - IoU of the pre-annotations the annotator "
                        "corrected before the cycle, - when none; s_cycle: seconds of the cycle)")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*(_cell(r, c) for c in COLUMNS))
    return table


def plot_curve(path: Path, rows: list[dict], strategy: str) -> Path:
    """Champion IoU (held-out and newest test split) against labeled images, and the edit cost per cycle."""
    from ml.report import pyplot, save_figure

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for col, label in ((HELDOUT_COLUMN, "held-out images (fixed)"), (IOU_COLUMN, "newest test split")):
        points = [(r["images"], r[col]) for r in rows if r.get(col) is not None]
        if points:
            left.plot(*zip(*points), "o-", label=f"champion ({strategy}), {label}")
    left.set_xlabel("labeled images")
    left.set_ylabel("mean foreground IoU")
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    costs = [(r["cycle"], r[EDIT_COLUMN]) for r in rows if r.get(EDIT_COLUMN) is not None]
    if costs:
        right.plot(*zip(*costs), "o-", color="tab:red")
    right.set_xticks([r["cycle"] for r in rows])
    right.set_xlabel("cycle (cycle 1: nothing pre-annotated)")
    right.set_ylabel("edit cost (1 - IoU pre-annotation vs submitted)")
    return save_figure(fig, path)


def save_curve(loop, rows: list[dict], out: Path, strategy: str) -> Path:
    """learning_curve.csv and .png in the demo folder, and both in an MLflow run of their own."""
    from flows.registry import log_files
    from ml.report import write_rows

    files = [write_rows(out / "learning_curve.csv", rows), plot_curve(out / "learning_curve.png", rows, strategy)]
    with tracked_run(loop.tracking, "demo learning curve", {TAG_KIND: KIND_DEMO, TAG_STRATEGY: strategy}):
        log_files(files)
    return files[1]


def report(loop, reports, rows, urls: dict, out: Path, strategy: str) -> None:
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
    per_cycle: int = 8  # tasks labeled before each cycle after the first
    minutes: float = 5.0  # a safety net only: the training budget is the epochs (of fixed patches), the same every cycle
    epochs: int = 12  # of 64 patches of 128x128
    min_iou: float = 0.3  # the first champion's minimum mean foreground test IoU
    images: Optional[Path] = None  # real images instead of generated ones (with masks)
    masks: Optional[Path] = None
    mask_kind: str = "class"
    strategy: str = "kcenter"  # uncertainty and diversity: entropy alone sends 8 look-alike images a cycle
    n_images: int = 40
    size: int = 384
    seed: int = 0
    first: Optional[int] = 4  # tasks labeled before the first cycle (None: per_cycle), so the first champion is weak
    heldout: int = 16  # generated images never imported, every champion's fixed yardstick (0: none)
    warm_lr: float = 5e-4  # the learning rate once a cycle starts from the champion (the first starts at 2e-3)
    test_fraction: float = 0.3  # of new images: promotion is judged on the newest test split, so not 1 or 2 images

    def __post_init__(self) -> None:
        from ml.data import check_mask_kind

        check_mask_kind(self.mask_kind)
        if (self.images is None) != (self.masks is None):
            raise ValueError("--images and --masks go together")
        if not 0 < self.test_fraction < 0.9:
            raise ValueError(f"--test-fraction must be above 0 and below 0.9, got {self.test_fraction}")

    @property
    def splits(self):
        from dataset.splits import SplitConfig

        val = 0.1
        return SplitConfig(train=round(1 - val - self.test_fraction, 6), val=val, test=self.test_fraction)

    @property
    def heldout_folder(self) -> Optional[Path]:
        """Where the held-out images are generated (none for --images: only generated data has a spare)."""
        return self.out / "heldout" if self.heldout and self.images is None else None


def demo_config(opts: DemoOptions):
    from flows.demo import DemoConfig
    from ml.train_options import train_config

    images, masks = (opts.images, opts.masks) if opts.images else \
        sample_data(opts.out, opts.n_images, opts.size, opts.seed, opts.heldout, opts.first or 0, opts.splits)[:2]
    train = train_config(decoder_channels=(64, 32, 16, 16, 16), epochs=opts.epochs, minutes=opts.minutes,
                         patch=128, patches_per_epoch=64, batch_size=8, lr=2e-3, warm_lr=opts.warm_lr,
                         restart_epochs=opts.epochs,
                         seed=opts.seed, patience=opts.epochs)
    return DemoConfig(opts.out, images, masks, train, opts.cycles, opts.per_cycle, opts.strategy,
                      mask_kind=opts.mask_kind, min_iou=opts.min_iou,
                      first=opts.first if opts.images is None else None, splits=opts.splits)


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
    rows = curve_rows(loop, reports, opts.heldout_folder)
    report(loop, reports, rows, {"Label Studio": ls_url, "MLflow": server.url}, opts.out, opts.strategy)
    return rows
