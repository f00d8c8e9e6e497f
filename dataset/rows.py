"""Pulled Label Studio tasks (typed records from labeling/) become dataset items with their provenance:
task and annotation ids, annotators, update time, annotator agreement and edit cost."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from dataset.store import Incoming
from foundation.pullrecord import PullRecord


def _mean(values) -> Optional[float]:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def record_item(record: PullRecord, pull_dir: Path, images: Path) -> Optional[Incoming]:
    """A pulled task's record as a dataset item (None when the task has no mask yet, or is a tile)."""
    if not record.mask or record.tile or not record.source:
        return None
    chosen = record.chosen_rows
    edits = [r.edit_iou for r in chosen if r.edit_iou not in (None, "")]
    prov = {"source": record.source, "ls_task_id": record.task_id,
            "ls_annotation_ids": [r.annotation_id for r in chosen if r.annotation_id is not None],
            "annotators": sorted({str(r.annotator) for r in chosen if r.annotator}),
            "updated_at": max((str(r.updated_at or "") for r in chosen), default=""),
            "agreement": _mean(record.agreement.values()), "edit_cost": 1 - _mean(edits) if edits else None}
    return Incoming(record.item_id, images / record.source, pull_dir / record.mask, provenance=prov)


def pulled_items(records: Iterable[PullRecord], pull_dir: Path, images: Path) -> list[Incoming]:
    """Dataset items of every pulled record that has a whole-image mask."""
    items = (record_item(r, pull_dir, images) for r in records)
    return [i for i in items if i is not None]
