"""An annotation deleted in Label Studio leaves the dataset: the next version lacks the row and data/dropped.csv
says which version dropped it and why (real Label Studio, git + DVC, Prefect)."""
from __future__ import annotations

import uuid

import pytest

from dataset.commit import checkout_version
from dataset.dropped import read_dropped
from dataset.manifest import read_manifest
from flows.annotator import SimulatedAnnotator
from flows.cycle import version_dataset
from flows.sync import sync_annotations
from labeling.api import Connection
from tests.integration.loop_helpers import demo_setup

pytestmark = pytest.mark.slow


def test_a_deleted_annotation_drops_its_row_from_the_next_version(tmp_path, sample, server, prefect_api):
    cfg, loop, project_id = demo_setup(tmp_path / f"dropped-{uuid.uuid4().hex[:6]}", sample, server)
    with Connection.open(server.settings) as conn:
        labeled = SimulatedAnnotator(cfg.truth, loop.schema).annotate(conn, project_id, 4)
    assert sync_annotations(loop).added == 4
    assert version_dataset(loop).version.tag == "dataset-v1"
    rows = {r.ls_task_id: r for r in read_manifest(loop.versions.data_dir)}
    victim = rows[labeled[1]]
    with Connection.open(server.settings) as conn:
        before = conn.request("GET", f"/api/tasks/{victim.ls_task_id}")["updated_at"]
        conn.sdk.annotations.delete(victim.ls_annotation_ids[0])
        after = conn.request("GET", f"/api/tasks/{victim.ls_task_id}")["updated_at"]
    assert after > before  # Label Studio 1.23.2 moves the task's updated_at: the incremental pull sees it
    synced = sync_annotations(loop)
    assert synced.pulled_tasks == 1 and synced.added == 0
    assert synced.dropped == [(victim.id, "annotation deleted (no annotation left in Label Studio)")]
    assert version_dataset(loop).version.tag == "dataset-v2"
    v2 = checkout_version(loop.versions, "dataset-v2", tmp_path / "v2")
    assert victim.id not in {r.id for r in read_manifest(v2)} and len(read_manifest(v2)) == 3
    history = read_dropped(v2)
    assert [(h.id, h.version, h.ls_task_id) for h in history] == [(victim.id, "dataset-v2", str(victim.ls_task_id))]
    assert "annotation deleted" in history[0].reason
    assert not (v2 / victim.image).exists() and not (v2 / victim.mask).exists()
    v1 = checkout_version(loop.versions, "dataset-v1", tmp_path / "v1")
    assert victim.id in {r.id for r in read_manifest(v1)}  # the history of earlier versions is untouched
    again = sync_annotations(loop)  # nothing changed since: nothing dropped twice
    assert again.dropped == [] and len(read_dropped(loop.versions.data_dir)) == 1
    # a whole task deleted from the project: the next sync drops its row too (one listing of task ids per pull)
    other = rows[labeled[2]]
    with Connection.open(server.settings) as conn:
        conn.sdk.tasks.delete(other.ls_task_id)
    synced = sync_annotations(loop)
    assert synced.dropped == [(other.id, "task deleted in Label Studio")]
    assert version_dataset(loop).version.tag == "dataset-v3"
    assert [(h.id, h.version) for h in read_dropped(loop.versions.data_dir)] == \
        [(victim.id, "dataset-v2"), (other.id, "dataset-v3")]
    assert sync_annotations(loop).dropped == []
