"""`sync_annotations`: finished Label Studio annotations since the last pull become rows of data/.

The pull (labeling/) writes masks and per-task records; its store hands them over as typed ``PullRecord``s, which
the dataset package turns into rows with their provenance (dataset/rows.py). Both steps
are idempotent, so a sync that fails part-way (a server going down) is simply run again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task

from flows.loop_config import LoopConfig
from labeling.api import Connection
from labeling.projects import ProjectSpec, ensure_project
from labeling.pull import PullConfig, pull
from labeling.pullstore import PullStore
from labeling.settings import load_settings
from dataset.rows import pulled_items
from dataset.store import AddReport, add_items


@dataclass(frozen=True)
class SyncReport:
    pulled_tasks: int
    added: int
    updated: int
    skipped: list[tuple[str, str]]


@task(retries=3, retry_delay_seconds=3, name="pull annotations")
def pull_annotations(cfg: LoopConfig):
    lab = cfg.labeling
    with Connection.open(load_settings(lab.settings_file)) as conn:
        project = ensure_project(conn.sdk, ProjectSpec(lab.project_title, cfg.schema))
        return pull(conn, project, PullConfig(cfg.pull_dir, lab.policy, lab.document_root))


@task(name="add to data/")
def ingest(cfg: LoopConfig) -> AddReport:
    records = PullStore(cfg.pull_dir, cfg.schema).records()
    items = pulled_items(records, cfg.pull_dir, cfg.labeling.images)
    return add_items(cfg.versions.data_dir, items, cfg.schema)


@flow(name="sync_annotations")
def sync_annotations(cfg: LoopConfig) -> SyncReport:
    """Pull what changed in Label Studio, then bring every pulled mask into data/ (idempotent)."""
    report = pull_annotations(cfg)
    added = ingest(cfg)
    return SyncReport(report.tasks, len(added.added), len(added.updated), added.skipped)
