"""The typed configuration of the labeling loop, built once at the entry point and passed to every flow."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from flows.promotion import PromotionRule
from flows.tracking import STATE_DIR, TrackingConfig
from dataset.versioning import VersionConfig
from foundation.atomic import write_atomic
from foundation.schema import LabelSchema
from ml.config import from_dict, to_dict
from ml.train import TrainConfig


@dataclass(frozen=True)
class LabelingTarget:
    """The Label Studio side: where its URL and token are recorded, the project, and the imported images."""

    settings_file: Path
    project_title: str
    images: Path  # the folder imported as tasks (inside the document root)
    document_root: Path
    policy: str = "latest"


@dataclass(frozen=True)
class LoopConfig:
    workspace: Path  # the git + DVC repository whose data/ holds the dataset versions
    labeling: LabelingTarget
    schema: LabelSchema
    tracking: TrackingConfig
    train: TrainConfig
    rule: PromotionRule = field(default_factory=PromotionRule)
    strategy: str = "entropy"
    min_new_annotations: int = 1  # threshold: version the dataset only with at least this many new ones
    preannotate_batch: int = 16  # images predicted per Prefect task
    dask_address: Optional[str] = None  # tcp://scheduler:8786: preannotate's batches run on that Dask cluster

    @property
    def versions(self) -> VersionConfig:
        return VersionConfig(self.workspace)

    @property
    def state_dir(self) -> Path:
        return self.workspace / STATE_DIR

    @property
    def pull_dir(self) -> Path:
        return self.state_dir / "pull"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"


LOOP_FILE = "loop.json"  # where the demo (or `grainloop loop init`) records the loop's configuration


def save_loop_config(cfg: LoopConfig, path: Path) -> Path:
    """The whole typed configuration as JSON, so a served deployment or a webhook run rebuilds the same loop.
    The MLflow store is not written, only the experiment and model names: the loading process finds the store as
    every entry point does (MLFLOW_TRACKING_URI, else the workspace's embedded one), so a database URI with a
    password never lands in the file."""
    data = to_dict(cfg)
    data["tracking"] = {"experiment": cfg.tracking.experiment, "model_name": cfg.tracking.model_name}
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def load_loop_config(path: Path) -> LoopConfig:
    """The configuration saved by save_loop_config; unknown or misspelt fields are an error that names them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no loop configuration at {path}: run `grainloop demo` or save one first")
    data = json.loads(path.read_text())
    names = data.pop("tracking", {}) or {}
    cfg = from_dict(LoopConfig, {**data, "tracking": None})
    return replace(cfg, tracking=TrackingConfig.for_project(cfg.workspace, **names))
