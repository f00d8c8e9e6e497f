"""Secrets and exposure against the real services: Label Studio's database and log are owner-only, a Prefect flow
run's stored parameters carry no URI or token, and a model_version is matched exactly on the real server."""
from __future__ import annotations

import json
import stat
import uuid

import numpy as np
import pytest

from labeling.push import MaskPrediction, PushConfig, listed_versions, push_predictions, tasks_with_version
from labeling.api import iter_tasks, filter_item, filters
from tests.integration.helpers import imported_project, server_counts, task_shape

pytestmark = pytest.mark.slow


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_label_studio_data_folder_database_and_log_are_owner_only(server):
    data = server.config.data_dir
    databases = list(data.glob("*.sqlite3"))
    assert databases, sorted(p.name for p in data.iterdir())
    assert _mode(data) == 0o700
    for path in [*databases, data / "server.log", data / "grainloop-credentials.json"]:
        if path.exists():
            assert _mode(path) & 0o077 == 0, f"{path.name} is {oct(_mode(path))}"
    assert not [p.name for p in data.rglob("*") if p.is_file() and _mode(p) & 0o007], "world-readable files"


def test_version_1_is_not_version_10_on_the_real_server(conn, docroot):
    project, tasks, _ = imported_project(conn, docroot, 3)
    a, b, c = (t["id"] for t in tasks)
    mask = np.zeros(task_shape(tasks[0]), np.uint8)
    mask[2:6, 2:6] = 1
    push_predictions(conn, project, PushConfig("grains@v10"), [MaskPrediction(t, mask, 0.5) for t in (a, b)])
    push_predictions(conn, project, PushConfig("grains@v1"), [MaskPrediction(b, mask, 0.4)])
    query = {"filters": filters(filter_item("predictions_model_versions", "contains", "List", ["grains@v1"]))}
    listed = {t["id"]: listed_versions(t) for t in iter_tasks(conn, project.id, query)}
    assert listed == {a: {"grains@v10"}, b: {"grains@v1", "grains@v10"}}  # the server's filter: substrings
    assert tasks_with_version(conn, project.id, "grains@v1") == {b}
    assert tasks_with_version(conn, project.id, "grains@v10") == {a, b}
    again = push_predictions(conn, project, PushConfig("grains@v1"), [MaskPrediction(b, mask, 0.3)])
    assert again.replaced == 1 and server_counts(conn, project.id) == (3, 3)  # v10's two untouched, v1 replaced
    assert c not in tasks_with_version(conn, project.id, "grains@v1")


def test_a_cycle_flow_run_stores_no_uri_or_token_in_prefect(tmp_path, sample, server, prefect_api):
    """The cycle's parameter is the path of the saved configuration; its steps run inside that one flow run."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter
    from prefect.client.schemas.sorting import FlowRunSort

    from flows.cycle import cycle
    from flows.loop_config import save_loop_config
    from tests.integration.loop_helpers import demo_setup

    cfg, loop, project_id = demo_setup(tmp_path / f"exposed-{uuid.uuid4().hex[:6]}", sample, server)
    config = save_loop_config(loop, tmp_path / "loop.json")
    report = cycle(str(config))
    assert report.sync.added == 0 and report.preannotate.skipped == "no champion yet"
    secrets = [loop.tracking.tracking_uri, server.settings.token, server.settings.url, "sqlite:", "file:",
               "http://", "https://"]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=200)
        flow_names = {r.flow_id: client.read_flow(r.flow_id).name for r in runs}
        mine = [r for r in runs if flow_names[r.flow_id] == "cycle" and r.parameters.get("config") == str(config)]
        assert len(mine) == 1 and mine[0].parameters == {"config": str(config), "wait": False}
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [mine[0].id]}))
    stored = json.dumps([r.parameters for r in runs] + [t.model_dump(mode="json") for t in task_runs])
    assert not [s for s in secrets if s and s in stored]  # no flow run (a sub-flow included) stores them
    assert {t.name.rsplit("-", 1)[0] for t in task_runs} >= {"pull annotations", "add to data/"}  # steps inside
