"""`sync_annotations`: finished Label Studio annotations since the last pull become rows of data/.

The pull (labeling/) writes masks and per-task records; its store hands them over as typed ``PullRecord``s, which
the dataset package turns into rows with their provenance (dataset/rows.py). Both steps
are idempotent, so a sync that fails part-way (a server going down) is simply run again.

A tiled image becomes a row once all its tiles are annotated; until then the report lists it as waiting (with
its tile count). An image Label Studio no longer backs (annotation deleted or skipped, task invalid) loses its
row, and data/dropped.csv records that the next dataset version dropped it and why (measured on Label Studio
1.23.2: deleting an annotation moves the task's updated_at, so the incremental pull sees it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from prefect import task

from flows.campaign import without_gold
from flows.loop_config import LoopConfig
from flows.scale import scale_record
from labeling.api import Connection
from labeling.consensus import Consensus
from labeling.projects import ProjectSpec, ensure_project
from labeling.pull import PullConfig, pull
from labeling.pullstore import QUARANTINE, PullStore
from labeling.settings import load_settings
from dataset.dropped import drop_items
from dataset.lock import workspace_lock
from dataset.rows import edit_cost, pulled_items, withdrawals
from dataset.samples import attach_channels, describe_all
from dataset.store import AddReport, add_items
from dataset.versioning import TAG_PREFIX, latest
from labeling.tiled import waiting


@dataclass(frozen=True)
class SyncReport:
    pulled_tasks: int
    added: int
    updated: int
    skipped: list[tuple[str, str]]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (id, reason): rows removed from data/
    waiting: list[dict] = field(default_factory=list)  # tiled images with tiles still unannotated
    quarantined: list[dict] = field(default_factory=list)  # this pull's refused annotations or tasks, with reasons
    report: Optional[Path] = None  # the pull's quarantine.json: every refusal still standing
    edit_cost: Optional[float] = None  # mean share of the pre-annotations changed (images added or updated)
    edited: int = 0  # how many of those started from a pre-annotation


@task(retries=3, retry_delay_seconds=3, name="pull annotations")
def pull_annotations(cfg: LoopConfig):
    lab = cfg.labeling
    with Connection.open(load_settings(lab.settings_file)) as conn:
        project = ensure_project(conn.sdk, ProjectSpec(lab.project_title, cfg.schema))
        return pull(conn, project, PullConfig(cfg.pull_dir, lab.policy, lab.document_root,
                                              consensus=Consensus(lab.min_agreement, lab.require_review)))


def next_tag(cfg: LoopConfig) -> str:
    """The tag the next dataset version will get: drops are recorded under it."""
    last = latest(cfg.versions)
    return f"{TAG_PREFIX}{(last.number if last else 0) + 1}"


@task(name="add to data/")
def ingest(cfg: LoopConfig) -> tuple[AddReport, list[tuple[str, str]], list[dict], tuple[Optional[float], int]]:
    """Add every pulled mask to data/, drop the rows Label Studio no longer backs; (added, dropped, waiting,
    (edit cost, edited) of the images added or updated)."""
    records = without_gold(cfg, PullStore(cfg.pull_dir, cfg.schema).image_records())  # gold: scored, not rows
    lab = cfg.labeling
    described = describe_all(pulled_items(records, cfg.pull_dir, lab.images), cfg.samples, scale_record(cfg))
    items = attach_channels(described, lab.images, lab.channels)
    with workspace_lock(cfg.workspace):  # one writer of data/ at a time: `grainloop dataset import` takes it too
        added = add_items(cfg.versions.data_dir, items, cfg.schema, cfg.splits)
        gone = withdrawals(records)
        dropped = drop_items(cfg.versions.data_dir, gone, next_tag(cfg)) if gone else []  # no git calls otherwise
    cost = edit_cost(items, [*added.added, *added.updated])
    return added, [(d.id, d.reason) for d in dropped], waiting(records), cost


def sync_annotations(cfg: LoopConfig) -> SyncReport:
    """Pull what changed in Label Studio, then bring every pulled mask into data/ (idempotent). A step of the
    cycle flow, not a flow itself: a flow's parameters are stored by Prefect, and this configuration holds URIs."""
    report = pull_annotations(cfg)
    added, dropped, pending, (cost, edited) = ingest(cfg)
    return SyncReport(report.tasks, len(added.added), len(added.updated), added.skipped, dropped, pending,
                      report.quarantined, cfg.pull_dir / QUARANTINE, cost, edited)
