"""The typed configuration of the labeling loop, built once at the entry point and passed to every flow."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flows.promotion import PromotionRule
from flows.tracking import TrackingConfig
from flows.versioning import VersionConfig
from grainloop.schema import LabelSchema
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

    @property
    def versions(self) -> VersionConfig:
        return VersionConfig(self.workspace)

    @property
    def state_dir(self) -> Path:
        return self.workspace / ".grainloop"

    @property
    def pull_dir(self) -> Path:
        return self.state_dir / "pull"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"
