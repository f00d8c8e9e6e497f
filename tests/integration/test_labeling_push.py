"""Pre-annotations: versioned, scored, bulk, replace-not-duplicate, brush or polygons, ordered by score. The score
stored on the server is Label Studio's: the champion's confidence, 1 - the active-learning priority
(labeling/priority.py), so the score tab lists the highest priority first."""
from __future__ import annotations

import numpy as np
import pytest

from labeling.priority import SAMPLING, to_priority
from labeling.push import MaskPrediction, PushConfig, image_predictions, order_by_score, push_predictions, \
    tasks_by_source
from labeling.regions import results_to_mask
from tests.integration.helpers import imported_project, server_counts, task_shape

pytestmark = pytest.mark.slow


def _grains(shape, n, seed=0):
    mask = np.zeros(shape, np.uint8)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        y, x = rng.integers(2, shape[0] - 8), rng.integers(2, shape[1] - 8)
        mask[y:y + rng.integers(2, 6), x:x + rng.integers(2, 6)] = 1
    return mask


def test_push_replaces_same_version_and_sets_project_version(conn, docroot):
    project, tasks, _ = imported_project(conn, docroot, 5)
    items = [MaskPrediction(t["id"], _grains(task_shape(t), 3, i), score=i / 10) for i, t in enumerate(tasks)]
    first = push_predictions(conn, project, PushConfig("unet-v1"), items)
    assert first.created == 5 and server_counts(conn, project.id) == (5, 5)
    again = push_predictions(conn, project, PushConfig("unet-v1"), items)
    assert again.created == 5 and again.replaced == 5 and server_counts(conn, project.id) == (5, 5)
    partial = push_predictions(conn, project, PushConfig("unet-v1"), items[:2])
    assert partial.replaced == 2 and server_counts(conn, project.id) == (5, 5)
    push_predictions(conn, project, PushConfig("unet-v2"), items[:2])
    assert server_counts(conn, project.id) == (5, 7)
    assert conn.sdk.projects.get(project.id).model_version == "unet-v2"
    predictions = conn.sdk.predictions.list(project=project.id)
    assert all(p.model_version in ("unet-v1", "unet-v2") for p in predictions)
    for p in predictions:
        task = next(t for t in tasks if t["id"] == p.task)
        item = next(i for i in items if i.task_id == p.task)
        assert np.array_equal(results_to_mask(p.result, project.schema, *task_shape(task)), item.mask)
        assert p.score == pytest.approx(1.0 - item.score) and to_priority(p.score) == pytest.approx(item.score)


def test_many_objects_become_exact_polygons(conn, docroot):
    project, tasks, _ = imported_project(conn, docroot, 2)
    items = [MaskPrediction(t["id"], _grains(task_shape(t), 12, 7 + i), 0.5) for i, t in enumerate(tasks)]
    push_predictions(conn, project, PushConfig("poly", polygon_above=5), items)
    for p in conn.sdk.predictions.list(project=project.id):
        assert {r["type"] for r in p.result} == {"polygonlabels"}
        item = next(i for i in items if i.task_id == p.task)
        assert np.array_equal(results_to_mask(p.result, project.schema, *item.mask.shape), item.mask)


def test_order_by_score_and_full_image_masks(conn, docroot):
    project, tasks, _ = imported_project(conn, docroot, 4)
    index = tasks_by_source(conn, project.id)
    items = []
    for score, (source, group) in zip((0.2, 0.9, 0.1, 0.5), sorted(index.items())):
        items += image_predictions(group, _grains(task_shape(group[0]), 2), score)
    push_predictions(conn, project, PushConfig("al-1"), items)
    view = order_by_score(conn, project.id)
    assert order_by_score(conn, project.id) == view
    ordered = conn.request("GET", "/api/tasks", params={"view": view})["tasks"]
    assert [to_priority(t["predictions_score"]) for t in ordered] == pytest.approx([0.9, 0.5, 0.2, 0.1])
    assert [t["predictions_score"] for t in ordered] == pytest.approx([0.1, 0.5, 0.8, 0.9])  # the column shown
    assert conn.request("GET", f"/api/projects/{project.id}/")["sampling"] == SAMPLING
