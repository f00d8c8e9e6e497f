"""The champion as a Label Studio ML backend (flows/backend.py), against the real Label Studio 1.23.2: connected
through the API, asked by Label Studio itself (the Data Manager's "Retrieve predictions" action and opening a task),
predictions stored with the champion's version; a promotion is picked up without a restart; eight concurrent
retrieve requests store no duplicate; `grainloop serve --backend` runs it beside the loop."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import prefect
import pytest

from flows.adopt import adopt_model
from flows.backend import Backend, BackendConfig, connect
from flows.backend_model import PredictorConfig
from flows.loop_config import save_loop_config
from flows.serve import ServeConfig, serve
from flows.task_predictions import inputs, load_predictor, predict_sources, task_items
from flows.tracking import prediction_version
from labeling.api import Connection
from labeling.ml_backend import connections
from labeling.projects import ProjectRef
from labeling.push import PushConfig, payload
from tests.helpers import random_model_file
from tests.integration.loop_helpers import demo_setup

pytestmark = pytest.mark.slow


def retrieve(conn: Connection, project: int, ids: list[int]) -> dict:
    """Label Studio's own "Retrieve predictions" action on these tasks (it calls the connected backend)."""
    return conn.request("POST", "/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": project},
                        json={"selectedItems": {"all": False, "included": ids}})


def versions(conn: Connection, task_id: int) -> list[str]:
    return sorted(p.model_version for p in conn.sdk.predictions.list(task=task_id))


def without_ids(results: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "id"} for r in results]  # region ids are random


def wait_for(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_the_backend_serves_the_champion_to_label_studio(tmp_path, sample, server, conn, monkeypatch):
    _, loop, project = demo_setup(tmp_path / "bk", sample, server)
    v1 = prediction_version(loop.tracking.model_name, adopt_model(loop, str(random_model_file(tmp_path / "a.pt"))))
    backend = Backend(loop, BackendConfig(predictor=PredictorConfig(refresh_s=0.2))).start()
    try:
        (link,) = connections(conn, project)
        assert link["url"] == backend.url and link["title"] == v1
        assert conn.sdk.projects.get(project).model_version == v1
        assert connect(loop, backend.url, project, v1) == link["id"]  # a rerun updates, never adds
        assert len(connections(conn, project)) == 1

        ids = sorted(t.id for t in conn.sdk.tasks.list(project=project))
        retrieve(conn, project, ids[:3])
        assert [versions(conn, t) for t in ids[:3]] == [[v1]] * 3
        assert versions(conn, ids[3]) == []

        # the stored prediction is the batch pre-annotation's, made by the same functions
        task = conn.request("GET", f"/api/tasks/{ids[0]}")
        stored = conn.request("GET", "/api/predictions/", params={"task": ids[0]})[0]
        source = task["data"]["source"]
        model, artifact = load_predictor(random_model_file(tmp_path / "again.pt"))  # as both paths load it
        items, _ = task_items({source: [task]}, predict_sources(model, artifact, [inputs(loop, source)], [source],
                                                                 loop.strategy), loop.strategy)
        (batch,) = payload(items, ProjectRef(project, "", loop.schema), PushConfig(v1))
        assert without_ids(stored["result"]) == without_ids(batch["result"]) and stored["model_version"] == v1

        retrieve(conn, project, ids[:3])  # asked again: Label Studio skips tasks holding the version
        assert [versions(conn, t) for t in ids[:3]] == [[v1]] * 3
        conn.request("GET", f"/api/tasks/{ids[3]}")  # opening a task without predictions asks the backend
        assert versions(conn, ids[3]) == [v1]

        v2 = prediction_version(loop.tracking.model_name,
                                adopt_model(loop, str(random_model_file(tmp_path / "b.pt", seed=1))))
        time.sleep(0.3)  # past refresh_s: the next request reads the alias again
        retrieve(conn, project, ids[:2])
        assert [versions(conn, t) for t in ids[:2]] == [sorted([v1, v2])] * 2
        assert wait_for(lambda: connections(conn, project)[0]["title"] == v2)  # renamed after the promotion
        assert conn.sdk.projects.get(project).model_version == v2

        batch_ids = ids[4:12]
        with ThreadPoolExecutor(8) as pool:  # eight "Retrieve predictions" at once, on overlapping selections
            answers = list(pool.map(lambda k: retrieve(conn, project, batch_ids[k % 3:]), range(8)))
        assert all(a.get("processed_items") for a in answers)
        assert [versions(conn, t) for t in batch_ids] == [[v2]] * len(batch_ids)

        health = httpx.get(f"{backend.url}/health").json()
        assert health["status"] == "UP"
    finally:
        backend.stop()

    served = []

    def prefect_serve(*deployments):  # instead of serving the cycle: look at the backend `serve` runs beside it
        (link,) = connections(conn, project)  # the earlier connection, moved to the new port
        served.append((link["url"], link["title"], httpx.get(f"{link['url']}/health").json()["status"]))

    monkeypatch.setattr(prefect, "serve", prefect_serve)
    serve(ServeConfig(save_loop_config(loop, tmp_path / "loop.json"), backend=BackendConfig()))
    assert len(served) == 1 and served[0][0] != backend.url and served[0][1:] == (v2, "UP")
    with pytest.raises(httpx.HTTPError):  # stopped with the served loop
        httpx.get(f"{served[0][0]}/health")
