"""The whole loop against the real services: Label Studio (the session's server), git + DVC with a local remote,
MLflow on SQLite and Prefect (a temporary API server). Outcomes are checked on the services themselves."""
from __future__ import annotations

import sys
import uuid
from collections import Counter

import pytest

from flows.demo import run_cycles
from flows.tracking import client as mlflow_client
from dataset.versioning import run, versions
from labeling.api import Connection, iter_tasks
from labeling.priority import to_score
from tests.integration.loop_helpers import demo_setup, replayed_weights

pytestmark = pytest.mark.slow


def _tasks(server, project_id: int) -> list[dict]:
    with Connection.open(server.settings) as conn:
        return list(iter_tasks(conn, project_id, page_size=1000, all_fields=True))


@pytest.fixture(scope="module")
def two_cycles(tmp_path_factory, sample, server, prefect_api):
    out = tmp_path_factory.mktemp("loop") / f"demo-{uuid.uuid4().hex[:6]}"
    cfg, loop, project_id = demo_setup(out, sample, server)
    reports = run_cycles(cfg, loop, server.settings, project_id, log=lambda s: None)
    return cfg, loop, project_id, reports


def test_two_cycles_leave_their_marks_on_every_service(two_cycles, server):
    cfg, loop, project_id, reports = two_cycles
    # DVC + git: one dataset tag per cycle, each pointing at a commit whose data.dvc is in the remote
    tags = versions(loop.versions)
    assert [v.tag for v in tags] == ["dataset-v1", "dataset-v2"]
    assert [r.dataset for r in reports] == ["dataset-v1", "dataset-v2"] and all(r.new_version for r in reports)
    status = run([sys.executable, "-m", "dvc", "status", "-c", "-q"], loop.workspace, check=False)
    assert status.returncode == 0, status.stdout + status.stderr  # everything is pushed
    # MLflow: a registered version per dataset version, with its lineage; a champion
    client = mlflow_client(loop.tracking)
    found = {v.version: v for v in client.search_model_versions(f"name='{loop.tracking.model_name}'")}
    assert sorted(found) == [1, 2]
    for v, tag in zip((found[1], found[2]), tags):
        assert v.tags["grainloop.dataset"] == tag.tag and v.tags["grainloop.data_dvc_md5"] == tag.md5
        assert v.tags["grainloop.git_sha"] == tag.commit and v.tags["grainloop.schema_hash"] == loop.schema.hash
    champion = client.get_model_version_by_alias(loop.tracking.model_name, "champion")
    assert str(champion.version) == reports[-1].champion
    # Label Studio: the champion's predictions on every remaining task, none doubled
    model_version = f"{loop.tracking.model_name}@v{champion.version}"
    tasks = _tasks(server, project_id)
    open_tasks = [t for t in tasks if not t["total_annotations"]]
    assert len(open_tasks) == 16 - 2 * cfg.per_cycle
    pushed = next(r.preannotate for r in reversed(reports) if r.preannotate.model_version == model_version
                  and r.preannotate.ranking)
    priority = dict(pushed.ranking)  # the sampling strategy's, by source image (higher: label first)
    for t in open_tasks:
        assert [p["model_version"] for p in t["predictions"]].count(model_version) == 1
        score = next(p["score"] for p in t["predictions"] if p["model_version"] == model_version)
        assert 0.0 <= score <= 1.0 and score == pytest.approx(to_score(priority[t["data"]["source"]]))
    for t in tasks:
        assert max(Counter(p["model_version"] for p in t["predictions"]).values(), default=0) <= 1
    assert reports[-1].seconds.keys() >= {"sync_annotations", "version_dataset", "train", "preannotate"}


def test_a_cycle_with_nothing_new_changes_nothing(two_cycles, server):
    from flows.cycle import cycle

    cfg, loop, project_id, reports = two_cycles
    before = [(t["id"], len(t["predictions"])) for t in _tasks(server, project_id)]
    again = cycle(loop)
    assert again.sync.added == 0 and not again.new_version and again.dataset == "dataset-v2"
    assert again.trained == reports[-1].trained and again.decision is None
    assert again.preannotate.created == 0
    assert [(t["id"], len(t["predictions"])) for t in _tasks(server, project_id)] == before
    assert len(mlflow_client(loop.tracking).search_model_versions(f"name='{loop.tracking.model_name}'")) == 2


def test_status_shows_the_loop_the_cycles_left(two_cycles, server):
    """`grainloop status` on the loop two cycles made: Label Studio counts, dataset versions, the champion, the last
    cycle's record, and the next run of a deployment on the Prefect server (one scheduled by hand here)."""
    from datetime import datetime, timedelta, timezone

    from prefect import get_client
    from prefect.states import Scheduled

    from flows.loop_config import save_loop_config
    from flows.serve import ServeConfig, deployment
    from flows.status import collect
    from flows.status_report import write_report

    cfg, loop, project_id, reports = two_cycles
    dep_id = deployment(ServeConfig(save_loop_config(loop, loop.state_dir / "status-test.json"))).apply()
    when = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0)
    try:
        with get_client(sync_client=True) as client:
            client.create_flow_run_from_deployment(dep_id, state=Scheduled(scheduled_time=when))
        status = collect(loop)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(dep_id)
    lab, champion = status.labeling, status.champion
    labeled = 2 * cfg.per_cycle
    assert (lab.unavailable, lab.total, lab.annotated, lab.in_progress, lab.skipped) == (None, 16, labeled, 0, 0)
    assert lab.with_champion_predictions == 16 - labeled
    assert sum(a.submitted for a in lab.annotators) == labeled and lab.annotators[0].median_lead_time_s == 0.0
    assert [v.tag for v in status.datasets.versions] == ["dataset-v1", "dataset-v2"]
    assert [v.images for v in status.datasets.versions] == [cfg.per_cycle, labeled]
    assert all(sum(v.splits.values()) == v.images and v.size_bytes > 0 for v in status.datasets.versions)
    assert champion.version == reports[-1].champion and champion.evaluated_on == "dataset-v2"
    assert champion.lineage["grainloop.dataset"] in ("dataset-v1", "dataset-v2")
    assert "mean_fg_iou" in champion.test_metrics
    assert status.datasets.versions[-1].champion_test_iou == champion.test_iou_by_dataset["dataset-v2"]
    assert status.quarantine.entries == () and status.quarantine.unavailable is None
    record = status.last_cycle.record
    assert record.dataset == "dataset-v2" and record.champion == reports[-1].champion and not record.failed
    assert status.schedule.next_run == when.isoformat(timespec="seconds")
    png, html = write_report(status, loop.state_dir / "status")
    assert png.stat().st_size > 0 and "dataset-v2" in html.read_text()


def test_dvc_repro_at_a_dataset_tag_replays_the_registered_model(two_cycles, tmp_path):
    """`git checkout dataset-vN && dvc pull && dvc repro` in a clone of the loop's workspace trains the very weights
    the loop registered for that version (warm start from the champion included)."""
    cfg, loop, project_id, reports = two_cycles
    record, replayed, registered = replayed_weights(loop, "dataset-v2", tmp_path)
    assert record["dataset"] == "dataset-v2" and record["epochs_run"] >= 1
    assert record["warm_start_from"] == reports[0].champion  # the champion after cycle 1, if any
    assert record["has_warm_start_file"] == (reports[0].champion is not None)
    assert replayed == registered
