"""Rows withdrawn from the dataset, and their history (data/dropped.csv).

When Label Studio no longer backs a row (its annotation was deleted or skipped, the task became invalid, a tile
of its image lost its annotation), a sync removes the row from the manifest and its files from data/, and
appends to ``dropped.csv`` which version dropped it and why: the next dataset version no longer holds the row,
and every version carries the history of what earlier versions lost. Only rows that came from the named Label
Studio tasks are dropped; rows added from folders are never touched by a sync.

Crash safety: the row's files go first, then the history, then the manifest (each write atomic). A sync killed
in between still finds the row in the manifest, drops it again, and the history is not doubled (an entry equal
in id, version and reason is written once).
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional, Sequence

from foundation.atomic import write_atomic
from dataset.manifest import ManifestRow, read_manifest, write_manifest

DROPPED = "dropped.csv"


@dataclass(frozen=True)
class Withdrawal:
    """An image Label Studio no longer backs: its dataset id, the task(s) it came from, why."""

    id: str
    task_ids: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class DroppedRow:
    id: str
    version: str  # the dataset version that no longer holds the row (the next one when it was dropped)
    reason: str
    ls_task_id: str = ""
    ls_annotation_ids: str = ""  # ';'-joined, as in the manifest
    sha256: str = ""
    split: str = ""
    dropped_at: str = ""


DROPPED_FIELDS = tuple(f.name for f in fields(DroppedRow))


def read_dropped(data_dir: Path) -> list[DroppedRow]:
    """The history; absent: none. A file without the columns is a ValueError (validation reports it)."""
    path = Path(data_dir) / DROPPED
    if not path.exists():
        return []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"id", "version", "reason"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{DROPPED} lacks columns: {sorted(missing)}")
        return [DroppedRow(**{k: d.get(k) or "" for k in DROPPED_FIELDS}) for d in reader]


def write_dropped(data_dir: Path, rows: Sequence[DroppedRow]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=DROPPED_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    write_atomic(Path(data_dir) / DROPPED, buf.getvalue())


def _entry(row: ManifestRow, version: str, reason: str, at: str) -> DroppedRow:
    return DroppedRow(row.id, version, reason, "" if row.ls_task_id is None else str(row.ls_task_id),
                      ";".join(str(i) for i in row.ls_annotation_ids), row.sha256, row.split, at)


def drop_items(data_dir: Path, withdrawals: Sequence[Withdrawal], version: str,
               at: Optional[str] = None) -> list[DroppedRow]:
    """Remove the rows these withdrawals name (only a row whose ls_task_id is one of the withdrawal's tasks) and
    record each in the history under ``version``; returns the entries written for rows removed now."""
    from datetime import datetime, timezone

    data_dir = Path(data_dir)
    rows = {r.id: r for r in read_manifest(data_dir)}
    at = at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    gone = [(rows[w.id], w.reason) for w in withdrawals
            if w.id in rows and rows[w.id].ls_task_id is not None and rows[w.id].ls_task_id in w.task_ids]
    if not gone:
        return []
    for row, _ in gone:
        for rel in (row.image, row.mask, row.instances):
            if rel:
                (data_dir / rel).unlink(missing_ok=True)
    history = read_dropped(data_dir)
    seen = {(h.id, h.version, h.reason) for h in history}
    new = [_entry(row, version, reason, at) for row, reason in gone if (row.id, version, reason) not in seen]
    if new:
        write_dropped(data_dir, history + new)
    removed = {row.id for row, _ in gone}
    write_manifest(data_dir, [r for i, r in rows.items() if i not in removed])
    return new
