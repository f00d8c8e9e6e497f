"""`sync_annotations`: finished Label Studio annotations since the last pull become rows of data/.

The pull (labeling/) writes masks and per-task records; here the records of pulled tasks are turned into dataset
rows with their provenance (task and annotation ids, annotators, update time, agreement, edit cost). Both steps
are idempotent, so a sync that fails part-way (a server going down) is simply run again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task

from flows.loop_config import LoopConfig
from labeling.api import Connection
from labeling.projects import ProjectSpec, ensure_project
from labeling.pull import PullConfig, pull
from labeling.settings import load_settings
from ml.dataset.store import AddReport, Incoming, add_items


@dataclass(frozen=True)
class SyncReport:
    pulled_tasks: int
    added: int
    updated: int
    skipped: list[tuple[str, str]]


def _mean(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def record_item(record: dict, pull_dir: Path, images: Path) -> Incoming | None:
    """A pulled task's record as a dataset item (None when the task has no mask yet, or is a tile)."""
    if not record.get("mask") or record.get("tile") or not record.get("source"):
        return None
    chosen = [p for p in record["provenance"] if p.get("chosen")] or record["provenance"]
    edits = [p.get("edit_iou") for p in chosen if p.get("edit_iou") not in (None, "")]
    agreement = _mean((record.get("agreement") or {}).values())
    prov = {"source": record["source"], "ls_task_id": record["task_id"],
            "ls_annotation_ids": [p["annotation_id"] for p in chosen if p.get("annotation_id") is not None],
            "annotators": sorted({str(p["annotator"]) for p in chosen if p.get("annotator")}),
            "updated_at": max((str(p.get("updated_at") or "") for p in chosen), default=""),
            "agreement": agreement, "edit_cost": 1 - _mean(edits) if edits else None}
    item_id = Path(record["source"]).with_suffix("").as_posix()
    return Incoming(item_id, images / record["source"], pull_dir / record["mask"], provenance=prov)


def pulled_items(pull_dir: Path, images: Path) -> list[Incoming]:
    """Dataset items of every pulled record."""
    paths = sorted((pull_dir / "records").glob("*.json")) if (pull_dir / "records").exists() else []
    items = [record_item(json.loads(p.read_text()), pull_dir, images) for p in paths]
    return [i for i in items if i is not None]


@task(retries=3, retry_delay_seconds=3, name="pull annotations")
def pull_annotations(cfg: LoopConfig):
    lab = cfg.labeling
    with Connection.open(load_settings(lab.settings_file)) as conn:
        project = ensure_project(conn.sdk, ProjectSpec(lab.project_title, cfg.schema))
        return pull(conn, project, PullConfig(cfg.pull_dir, lab.policy, lab.document_root))


@task(name="add to data/")
def ingest(cfg: LoopConfig) -> AddReport:
    items = pulled_items(cfg.pull_dir, cfg.labeling.images)
    return add_items(cfg.versions.data_dir, items, cfg.schema)


@flow(name="sync_annotations")
def sync_annotations(cfg: LoopConfig) -> SyncReport:
    """Pull what changed in Label Studio, then bring every pulled mask into data/ (idempotent)."""
    report = pull_annotations(cfg)
    added = ingest(cfg)
    return SyncReport(report.tasks, len(added.added), len(added.updated), added.skipped)
