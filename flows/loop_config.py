"""The typed configuration of the labeling loop, built once at the entry point and passed to every flow."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from flows.promotion import PromotionRule
from flows.tracking import STATE_DIR, TrackingConfig
from dataset.samples import SampleConfig
from dataset.splits import SplitConfig
from dataset.versioning import VersionConfig
from foundation.atomic import write_atomic
from foundation.schema import LabelSchema
from labeling.tiles import TilingConfig
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
    min_agreement: float | None = None  # several annotators agreeing less (mean IoU) wait for a review
    require_review: bool = False  # a mask enters only once a reviewer accepted it or several annotators agree
    tiling: TilingConfig = field(default_factory=TilingConfig)  # images larger than this are imported as tiles
    channels: tuple[Path, ...] = ()  # further detector channels: folders with the images' relative paths


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
    samples: SampleConfig = field(default_factory=SampleConfig)  # specimen key and pixel-size fallback
    splits: SplitConfig = field(default_factory=SplitConfig)  # fractions for new groups (assigned ones stay frozen)
    prefect_api_url: Optional[str] = None  # a Prefect server; None: no-server mode (PREFECT_API_URL still wins)

    def __post_init__(self) -> None:
        from labeling.policy import check_agreement, check_policy
        from ml.sampling import get_strategy

        get_strategy(self.strategy)  # an unknown name is an error listing the valid ones
        check_policy(self.labeling.policy)
        check_agreement(self.labeling.min_agreement)
        if self.train.semi.enabled:  # dvc repro must replay a loop's training, and the pool is not versioned yet
            raise ValueError("semi-supervised training is not a loop setting yet (the loop does not version its "
                             "unlabeled pool, so `dvc repro` could not replay it): use `grainloop train --semi`")
        for name in ("min_new_annotations", "preannotate_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

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


LOOP_FILE = "loop.json"  # where `grainloop init` (or the demo) records the loop's configuration
DEFAULT_LOOP = Path("loop") / LOOP_FILE  # `grainloop init`'s default; every loop verb reads it unless --config says


def shareable_uri(uri: str) -> bool:
    """A tracking URI that may be written to the loop file: it names a server or database without a password."""
    return "://" in uri and not uri.startswith("sqlite:") and urlsplit(uri).password is None


def save_loop_config(cfg: LoopConfig, path: Path) -> Path:
    """The whole typed configuration as JSON, so a served deployment or a webhook run rebuilds the same loop.
    Of the MLflow store only a server's address without a password is written (``grainloop init --tracking-uri``);
    otherwise the loading process finds the store as every entry point does (MLFLOW_TRACKING_URI, else the
    workspace's embedded one), so a database URI with a password never lands in the file."""
    data = to_dict(cfg)
    data["tracking"] = {"experiment": cfg.tracking.experiment, "model_name": cfg.tracking.model_name}
    embedded = TrackingConfig.for_project(cfg.workspace, env={}).tracking_uri
    if cfg.tracking.tracking_uri != embedded and shareable_uri(cfg.tracking.tracking_uri):
        data["tracking"]["uri"] = cfg.tracking.tracking_uri
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def tracking_for(workspace: Path, names: dict, env: Optional[dict] = None) -> TrackingConfig:
    """MLFLOW_TRACKING_URI when set, else the URI saved in the loop file, else the workspace's embedded store."""
    env = dict(os.environ if env is None else env)
    names = dict(names)
    uri = names.pop("uri", None)
    if uri and not env.get("MLFLOW_TRACKING_URI"):
        env["MLFLOW_TRACKING_URI"] = uri
    return TrackingConfig.for_project(workspace, env=env, **names)


def load_loop_config(path: Path) -> LoopConfig:
    """The configuration saved by save_loop_config; unknown or misspelt fields are an error that names them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no loop configuration at {path}: run `grainloop demo` or save one first")
    data = json.loads(path.read_text())
    names = data.pop("tracking", {}) or {}
    cfg = from_dict(LoopConfig, {**data, "tracking": None})
    return replace(cfg, tracking=tracking_for(cfg.workspace, names))
