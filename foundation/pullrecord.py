"""The typed record of one pulled Label Studio task: what labeling/ hands over to the dataset stage.

labeling/ writes one record per task (its pull store keeps them as JSON, the same keys as ``to_dict``) and reads
them back as ``PullRecord``; the dataset package turns each into a dataset row without knowing the file format.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional


@dataclass(frozen=True)
class AnnotationRow:
    """Provenance of one usable annotation of a task: who, when, from which prediction, how much was edited."""

    task_id: int
    annotation_id: Optional[int] = None
    annotator: Optional[str] = None
    lead_time: Optional[float] = None
    created_at: Optional[str] = None
    updated_at: Optional[str] = None
    parent_prediction: Optional[int] = None
    prediction_model_version: Optional[str] = None
    edit_iou: Optional[float] = None  # IoU of the final mask with the pre-annotation it started from
    consensus_iou: Optional[float] = None  # IoU with the task's consensus (the policy's mask), several annotations
    consensus_by_class: Optional[dict] = None  # the same per class (None for a class in neither mask)
    chosen: bool = False  # the policy used this annotation for the task's mask
    policy: str = "latest"
    schema_hash: str = ""
    source: Optional[str] = None  # the image, relative to the imported folder
    tile: Optional[dict] = None
    mask: Optional[str] = None


@dataclass(frozen=True)
class Quarantined:
    """An annotation (or a whole task, annotation_id None) left out of the data, and why."""

    task_id: int
    reason: str
    annotation_id: Optional[int] = None
    source: Optional[str] = None


@dataclass(frozen=True)
class PullRecord:
    task_id: int
    source: Optional[str] = None
    tile: Optional[dict] = None  # the tile's box, for a task that is one tile of a large image
    mask: Optional[str] = None  # the class mask, relative to the pull folder; None while the task has none
    chosen: tuple[int, ...] = ()
    agreement: Mapping[str, Optional[float]] = field(default_factory=dict)  # per class, between annotators
    provenance: tuple[AnnotationRow, ...] = ()
    quarantine: tuple[Quarantined, ...] = ()
    tile_count: int = 0  # a tiled image's number of tiles (on each tile's record and on the image's)
    tiles_annotated: int = 0  # an image assembled from tiles: how many of its tiles have a mask
    task_ids: tuple[int, ...] = ()  # an image assembled from tiles: every tile task (task_id is the first)
    reason: Optional[str] = None  # why there is no mask: annotation deleted, skipped, invalid, waiting for tiles
    pairs: tuple[tuple[int, int, Optional[float]], ...] = ()  # (annotation, annotation, mean IoU) of every pair
    instances: Optional[str] = None  # the grains' instance map (16-bit ids), where the regions split touching ones

    @property
    def chosen_rows(self) -> tuple[AnnotationRow, ...]:
        """The annotations the mask was made from (all of them when none is marked chosen)."""
        return tuple(r for r in self.provenance if r.chosen) or self.provenance

    @property
    def item_id(self) -> Optional[str]:
        """The dataset id of the task's image: its path without suffix."""
        return Path(self.source).with_suffix("").as_posix() if self.source else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PullRecord":
        return cls(task_id=int(data["task_id"]), source=data.get("source"), tile=data.get("tile"),
                   mask=data.get("mask"), chosen=tuple(data.get("chosen") or ()),
                   agreement=dict(data.get("agreement") or {}),
                   pairs=tuple(tuple(p) for p in data.get("pairs") or ()),
                   provenance=tuple(_known(AnnotationRow, row) for row in data.get("provenance") or ()),
                   quarantine=tuple(_known(Quarantined, q) for q in data.get("quarantine") or ()),
                   tile_count=int(data.get("tile_count") or 0), tiles_annotated=int(data.get("tiles_annotated") or 0),
                   task_ids=tuple(data.get("task_ids") or ()),
                   reason=data.get("reason"), instances=data.get("instances"))


def _known(cls, row: Mapping[str, Any]):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in row.items() if k in names})
