"""The reproducible pipeline beside a dataset version, and the record of what a training on it really did.

The loop's workspace carries the same dvc.yaml as the repository (prepare -> train -> evaluate) and a params.yaml
whose ``train`` section is the TrainConfig the loop trained with, rewritten to replay it: the epochs actually run
instead of a time budget, the thread count it used, and the warm-start checkpoint as a DVC-tracked input of the
train stage. ``record_training`` commits these with the dataset version and moves the version's tag onto that
commit (data.dvc is unchanged), so ``git checkout dataset-vN && dvc pull && dvc repro`` trains the same weights.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import yaml

from dataset.lock import workspace_lock
from dataset.versioning import VersionConfig, dvc, git, identity, run
from foundation.atomic import copy_atomic, write_atomic
from foundation.digest import sha256_file
from ml.predict import PredictConfig
from ml.train import TrainConfig
from ml.train_options import PARAMS_SECTION, params_dict

PIPELINE = "dvc.yaml"
PARAMS = "params.yaml"
RECORD = "training.json"
WARM_START = "models/warm-start.pt"


def pipeline(warm_start: bool = False) -> dict:
    """dvc.yaml's stages; ``warm_start``: the train stage starts from WARM_START (a DVC-tracked file)."""
    train_cmd = ("grainloop train --dataset data --splits artifacts/prepared/splits.json --params params.yaml "
                 "--out artifacts/model --no-resume" + (f" --warm-start {WARM_START}" if warm_start else ""))
    evaluate_cmd = ("grainloop evaluate --model artifacts/model/model.pt --dataset data --split ${evaluate.split} "
                    "--tile ${evaluate.tile} --overlap ${evaluate.overlap} --out artifacts/evaluation")
    return {"stages": {
        "prepare": {"cmd": "grainloop dataset prepare --data data --out artifacts/prepared", "deps": ["data"],
                    "outs": _uncached("artifacts/prepared")},
        "train": {"cmd": train_cmd,
                  "deps": ["data", "artifacts/prepared/splits.json", *([WARM_START] if warm_start else [])],
                  "params": [PARAMS_SECTION], "outs": _uncached("artifacts/model")},
        "evaluate": {"cmd": evaluate_cmd, "deps": ["data", "artifacts/model/model.pt"], "params": ["evaluate"],
                     "outs": _uncached("artifacts/evaluation/overlays", "artifacts/evaluation/per_image.csv"),
                     "metrics": _uncached("artifacts/evaluation/metrics.json"),
                     "plots": _uncached("artifacts/evaluation/confusion_matrix.png")}}}


def _uncached(*paths: str) -> list[dict]:
    """Stage outputs stay out of the DVC cache (models live in MLflow), so a plain `dvc pull` in a fresh clone
    fetches the inputs and succeeds before any stage has run."""
    return [{p: {"cache": False}} for p in paths]


def evaluate_params(split: str = "test", predict: PredictConfig = PredictConfig()) -> dict:
    return {"split": split, "tile": predict.tile, "overlap": predict.overlap}


@dataclass(frozen=True)
class TrainingRecord:
    """What one training on a dataset version did, next to what it was asked to do."""

    dataset: str
    epochs_run: int
    stopped: str  # "epochs", "early_stopping" or "time_budget"
    configured_epochs: int
    budget_minutes: Optional[float]
    threads: int
    device: str
    warm_start_from: Optional[str] = None  # e.g. the registered model version it started from
    warm_start_sha256: Optional[str] = None
    precision: str = "fp32"  # what the run computed in ("auto" resolved); records without it were fp32


def replay_config(cfg: TrainConfig, record: TrainingRecord) -> TrainConfig:
    """The config that replays the run: stop by epochs where it stopped, same threads, device and precision."""
    return replace(cfg, epochs=record.epochs_run, max_minutes=None, threads=record.threads, device=record.device,
                   precision=record.precision, progress=False)


def _replayable_at_head(cfg: VersionConfig, tag: str) -> bool:
    """The record can go on HEAD when HEAD is the tag's commit or follows it with the same data.dvc."""
    if run(["git", "merge-base", "--is-ancestor", tag, "HEAD"], cfg.root, check=False).returncode:
        return False
    return git(cfg, "diff", "--name-only", tag, "HEAD", "--", cfg.dvc_file.name) == ""


def write_workspace_files(cfg: VersionConfig, train: TrainConfig, record: TrainingRecord,
                          warm_start: Optional[Path]) -> list[str]:
    """dvc.yaml, params.yaml, training.json and the DVC-tracked warm start; the paths git should record."""
    root = cfg.root
    write_atomic(root / PIPELINE, yaml.safe_dump(pipeline(warm_start is not None), sort_keys=False))
    params = {PARAMS_SECTION: params_dict(replay_config(train, record)), "evaluate": evaluate_params()}
    write_atomic(root / PARAMS, yaml.safe_dump(params, sort_keys=False))
    write_atomic(root / RECORD, json.dumps(asdict(record), indent=2, sort_keys=True) + "\n")
    paths = [PIPELINE, PARAMS, RECORD]
    tracked = root / f"{WARM_START}.dvc"
    if warm_start is not None:
        (root / WARM_START).parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(warm_start, root / WARM_START)
        dvc(cfg, "add", "-q", WARM_START)
        dvc(cfg, "push", "-q", str(tracked.relative_to(root)))
        paths += [str(tracked.relative_to(root)), str((root / WARM_START).parent.relative_to(root) / ".gitignore")]
    elif tracked.exists():
        git(cfg, "rm", "-q", "--cached", "--ignore-unmatch", str(tracked.relative_to(root)))
        tracked.unlink()
    return paths


def init_pipeline(cfg: VersionConfig, train: TrainConfig) -> None:
    """A new workspace's dvc.yaml and params.yaml (the loop's TrainConfig), committed; each training record
    rewrites them for its version."""
    params = {PARAMS_SECTION: params_dict(train), "evaluate": evaluate_params()}
    write_atomic(cfg.root / PIPELINE, yaml.safe_dump(pipeline(False), sort_keys=False))
    write_atomic(cfg.root / PARAMS, yaml.safe_dump(params, sort_keys=False))
    git(cfg, "add", PIPELINE, PARAMS)
    if git(cfg, "status", "--porcelain", "--", PIPELINE, PARAMS):
        git(cfg, *identity(cfg), "commit", "-q", "-m", "The loop's pipeline and training parameters")


def record_training(cfg: VersionConfig, train: TrainConfig, record: TrainingRecord,
                    warm_start: Optional[Path] = None) -> Optional[str]:
    """Commit the replayable pipeline for ``record.dataset`` and move its tag there; return that commit (None
    when a newer dataset version is already on top, so the record cannot go with this one). Idempotent; holds the
    workspace's writer lock."""
    with workspace_lock(cfg.root):
        return _record_training(cfg, train, record, warm_start)


def _record_training(cfg: VersionConfig, train: TrainConfig, record: TrainingRecord,
                     warm_start: Optional[Path]) -> Optional[str]:
    tag = record.dataset
    if not _replayable_at_head(cfg, tag):
        return None
    if warm_start is not None:
        record = replace(record, warm_start_sha256=sha256_file(warm_start))
    paths = write_workspace_files(cfg, train, record, warm_start)
    git(cfg, "add", "-A", "--", *paths)
    if git(cfg, "status", "--porcelain", "--", *paths):
        git(cfg, *identity(cfg), "commit", "-q", "-m", f"Training record of {tag}",
            "-m", json.dumps(asdict(record), sort_keys=True))
    head = git(cfg, "rev-parse", "HEAD")
    if git(cfg, "rev-list", "-n", "1", tag) != head:
        message = git(cfg, "tag", "-l", "--format=%(contents)", tag)
        git(cfg, *identity(cfg), "tag", "-f", "-a", tag, "-m", f"{message.strip()}\n\nTraining record: {RECORD}")
    return head
