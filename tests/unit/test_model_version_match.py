"""A model_version is matched exactly: `grains@v1` is not `grains@v10` (Label Studio's filter matches substrings).
The push's replace check and pre-annotate's "already pushed" check both go through tasks_with_version."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

import labeling.push as push
from labeling.push import holds_version, listed_versions, tasks_with_version

V1, V10 = "grains@v1", "grains@v10"


@pytest.mark.parametrize("column, expected", [
    ("grains@v10", {V10}), ("grains@v1,grains@v10", {V1, V10}), ("grains@v10, grains@v2", {V10, "grains@v2"}),
    ("", None), (None, None), ("x" * 500, None),  # empty, missing, or cut by the server: cannot tell
])
def test_the_listed_versions_are_split_into_exact_names(column, expected):
    task = {"id": 1} if column is None else {"id": 1, "predictions_model_versions": column}
    assert listed_versions(task) == expected


def test_version_1_is_not_version_10():
    assert holds_version({"predictions_model_versions": V10}, V1) is False
    assert holds_version({"predictions_model_versions": f"{V10},{V1}"}, V1) is True
    assert holds_version({"predictions_model_versions": V1}, V10) is False


class FakeServer:
    """Label Studio's task list as far as tasks_with_version sees it: the `contains` filter on model versions
    matches substrings, and the column joins the names with commas (as its SQLite backend does)."""

    def __init__(self, predictions: dict[int, list[str]]):
        self.predictions = predictions
        self.sdk = SimpleNamespace(predictions=SimpleNamespace(list=self._list))

    def _list(self, task: int):
        return [SimpleNamespace(model_version=v) for v in self.predictions[task]]

    def matching(self, query: dict) -> list[dict]:
        wanted = query["filters"]["items"][0]["value"][0]
        return [{"id": t, "predictions_model_versions": ",".join(vs)} for t, vs in self.predictions.items()
                if any(wanted in v for v in vs)]


@pytest.fixture()
def server(monkeypatch):
    fake = FakeServer({1: [V10], 2: [V1, V10], 3: [], 4: ["grains@v100"]})
    monkeypatch.setattr(push, "task_page",
                        lambda conn, pid, query, size, all_fields: {"total": len(fake.matching(query))})
    monkeypatch.setattr(push, "iter_tasks", lambda conn, pid, query=None, page_size=500: iter(fake.matching(query)))
    return fake


def test_tasks_with_version_returns_exact_holders_only(server):
    assert tasks_with_version(server, 7, V1) == {2}
    assert tasks_with_version(server, 7, V10) == {1, 2}
    assert tasks_with_version(server, 7, "grains@v100") == {4}


def test_a_push_of_v1_replaces_in_one_request_when_only_its_targets_hold_v1(server, monkeypatch):
    """Task 1 holds only v10: with substring matching it counted as holding v1, so pushing v1 to task 2 took the
    slow per-prediction path (and a v1 push to task 1 alone was thought to replace something)."""
    calls = []
    monkeypatch.setattr(push, "delete_version", lambda conn, pid, mv: calls.append(("delete_version", mv)) or 1)
    monkeypatch.setattr(push, "old_prediction_ids", lambda conn, ids, mv: calls.append(("per_task", ids)) or [])
    monkeypatch.setattr(push, "upload", lambda conn, pid, bodies: len(list(bodies)))
    monkeypatch.setattr(push, "payload", lambda items, project, config: [{"task": i.task_id} for i in items])
    project = SimpleNamespace(id=7, schema=None)
    report = push.push_predictions(server, project, push.PushConfig(V1, set_project_version=False),
                                   [push.MaskPrediction(2, None, 0.5)])
    assert calls == [("delete_version", V1)] and report.replaced == 1
    calls.clear()
    report = push.push_predictions(server, project, push.PushConfig(V1, set_project_version=False),
                                   [push.MaskPrediction(1, None, 0.5)])
    assert calls == [("per_task", set())] and report.replaced == 0


def test_preannotate_does_not_take_v10_for_an_already_pushed_v1(server, monkeypatch):
    import flows.preannotate as pre

    tasks = {t: {"id": t, "total_annotations": 0, "data": {"source": f"img{t}.png"}} for t in server.predictions}
    monkeypatch.setattr(pre, "tasks_by_source", lambda conn, pid: {f"img{t}.png": [task] for t, task in tasks.items()})
    assert sorted(pre.unlabeled_by_source(server, 7, V1)) == ["img1.png", "img3.png", "img4.png"]  # img2 has v1
    assert sorted(pre.unlabeled_by_source(server, 7, V10)) == ["img3.png", "img4.png"]
