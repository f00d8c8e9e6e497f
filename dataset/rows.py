"""Pulled Label Studio tasks (typed records from labeling/) become dataset items with their provenance:
task and annotation ids, annotators, update time, annotator agreement and edit cost.

A tiled image arrives as one record merged from its tile tasks (labeling/tiled.py): its row's ``ls_task_id`` is
the first tile's task, ``ls_annotation_ids`` and ``annotators`` cover every tile (the tile tasks are the
record's ``task_ids``, kept in the pull folder's provenance.csv). A record without a mask whose image has a row
(annotation deleted or skipped, task invalid, a tile waiting again) is a ``Withdrawal``: the sync drops the row
(dataset/dropped.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from dataset.dropped import Withdrawal
from dataset.store import Incoming
from foundation.paths import PathEscape, inside
from foundation.pullrecord import PullRecord


def _mean(values) -> Optional[float]:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def record_item(record: PullRecord, pull_dir: Path, images: Path) -> Optional[Incoming]:
    """A pulled image's record as a dataset item (None when it has no mask yet, or is a single tile)."""
    if not record.mask or record.tile or not record.source:
        return None
    try:  # the source is Label Studio's task data: it must not lead out of the images folder
        image, mask = inside(images, record.source), inside(pull_dir, record.mask)
        grains = inside(pull_dir, record.instances) if record.instances else None
    except PathEscape as e:
        return Incoming(f"task-{record.task_id}", Path(), None, refused=f"Label Studio task data refused: {e}")
    chosen = record.chosen_rows
    edits = [r.edit_iou for r in chosen if r.edit_iou not in (None, "")]
    prov = {"source": record.source, "ls_task_id": record.task_id,
            "ls_annotation_ids": [r.annotation_id for r in chosen if r.annotation_id is not None],
            "annotators": sorted({str(r.annotator) for r in chosen if r.annotator}),
            "updated_at": max((str(r.updated_at or "") for r in chosen), default=""),
            "agreement": _mean(record.agreement.values()), "edit_cost": 1 - _mean(edits) if edits else None,
            "policy": chosen[0].policy if chosen else None}
    return Incoming(record.item_id, image, mask, grains, provenance=prov)


def pulled_items(records: Iterable[PullRecord], pull_dir: Path, images: Path) -> list[Incoming]:
    """Dataset items of every pulled record that has a whole-image mask."""
    items = (record_item(r, pull_dir, images) for r in records)
    return [i for i in items if i is not None]


def withdrawals(records: Iterable[PullRecord]) -> list[Withdrawal]:
    """Images whose record has no mask (any more): their rows, if the sync finds them, are dropped."""
    return [Withdrawal(r.item_id, tuple(r.task_ids) or (r.task_id,), r.reason or "no mask in Label Studio")
            for r in records if not r.mask and not r.tile and r.item_id]


def edit_cost(items: Iterable[Incoming], ids: Iterable[str]) -> tuple[Optional[float], int]:
    """Mean edit cost (1 - IoU of the submitted mask with the pre-annotation it started from) of the items with
    these ids that started from one, and how many did: the share of the model's work annotators changed."""
    wanted = set(ids)
    costs = [i.provenance["edit_cost"] for i in items
             if i.id in wanted and isinstance(i.provenance.get("edit_cost"), (int, float))]
    return (sum(costs) / len(costs) if costs else None), len(costs)
