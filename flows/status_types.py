"""What `grainloop status` shows, as typed frozen records: one per source (Label Studio, the pull's quarantine,
the dataset versions, the MLflow champion, the last cycle, the Prefect schedule). A source that cannot be read
says why in ``unavailable`` instead of failing the whole status; ``LoopStatus.to_dict()`` is the JSON form."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from flows.cycle_record import CycleRecord
from foundation.pullrecord import Quarantined


@dataclass(frozen=True)
class AnnotatorStats:
    """One annotator's submitted work in the project."""

    name: str
    submitted: int  # submitted (not skipped) annotations
    median_lead_time_s: Optional[float]  # Label Studio's lead_time: seconds spent in the editor


@dataclass(frozen=True)
class LabelingStatus:
    """The Label Studio project's tasks by state, and who annotated them."""

    project: str
    url: str = ""
    total: int = 0  # tasks in the project
    annotated: int = 0  # with at least one submitted annotation
    in_progress: int = 0  # a draft saved, nothing submitted yet
    skipped: int = 0  # only skipped (cancelled) annotations
    with_champion_predictions: int = 0  # not annotated yet, holding a prediction of the champion's model_version
    champion_model_version: Optional[str] = None
    annotators: tuple[AnnotatorStats, ...] = ()
    unavailable: Optional[str] = None

    @property
    def not_started(self) -> int:
        return max(self.total - self.annotated - self.in_progress - self.skipped, 0)


@dataclass(frozen=True)
class QuarantineStatus:
    """The annotations and tasks the pulls refused, with their reasons (labeling/pullstore.py)."""

    report: str  # the pull folder's quarantine.json
    entries: tuple[Quarantined, ...] = ()  # the pull's refusals still standing
    held: tuple[tuple[int, str, str], ...] = ()  # (task, source, reason): annotators disagree, waiting for a review
    unavailable: Optional[str] = None


@dataclass(frozen=True)
class DatasetVersionInfo:
    """One dataset-vN tag: its size and images per split, read from git without checking the data out."""

    tag: str
    commit: str
    images: Optional[int] = None
    splits: dict[str, int] = field(default_factory=dict)  # images per frozen split
    size_bytes: Optional[int] = None  # of data/, as DVC recorded it
    champion_test_iou: Optional[float] = None  # the champion's score on this version's test split, if evaluated


@dataclass(frozen=True)
class DatasetStatus:
    """The dataset versions, oldest first."""

    versions: tuple[DatasetVersionInfo, ...] = ()
    unavailable: Optional[str] = None


@dataclass(frozen=True)
class ChampionStatus:
    """The registered version holding the champion alias, with its test metrics and lineage."""

    model_name: str
    version: Optional[str] = None
    evaluated_on: Optional[str] = None  # the dataset version whose test split gave test_metrics
    test_metrics: dict[str, float] = field(default_factory=dict)
    lineage: dict[str, str] = field(default_factory=dict)  # flows.tracking.LINEAGE_TAGS
    test_iou_by_dataset: dict[str, float] = field(default_factory=dict)
    unavailable: Optional[str] = None


@dataclass(frozen=True)
class CycleStatus:
    """The last cycle's record (flows/cycle_record.py)."""

    record: Optional[CycleRecord] = None
    unavailable: Optional[str] = None
    history: tuple[CycleRecord, ...] = ()  # every recorded cycle, oldest first: the edit cost per cycle


@dataclass(frozen=True)
class ScaleStatus:
    """The scale-bar readings of the loop's images (dataset/scales.py): counts by state, and those awaiting a
    person's confirmation as (image, label, micrometres per pixel, confidence)."""

    states: dict[str, int] = field(default_factory=dict)
    awaiting: tuple[tuple[str, str, float, float], ...] = ()
    unavailable: Optional[str] = None


@dataclass(frozen=True)
class ScheduleStatus:
    """The next scheduled run of the served deployment, on a Prefect server."""

    deployment: str
    next_run: Optional[str] = None  # UTC ISO time of the next scheduled flow run
    note: str = ""  # why there is none ("no schedule (no Prefect server)")
    unavailable: Optional[str] = None


@dataclass(frozen=True)
class LoopStatus:
    """Everything `grainloop status` shows, one field per source."""

    collected_at: str  # UTC ISO
    workspace: str
    labeling: LabelingStatus
    quarantine: QuarantineStatus
    datasets: DatasetStatus
    champion: ChampionStatus
    last_cycle: CycleStatus
    schedule: ScheduleStatus
    scales: ScaleStatus = field(default_factory=ScaleStatus)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["labeling"]["not_started"] = self.labeling.not_started
        return data
