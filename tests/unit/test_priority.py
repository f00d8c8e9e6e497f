"""The one conversion between grainloop's active-learning priority (higher: label first) and Label Studio's
prediction score (the champion's confidence; its "Uncertainty sampling" stream serves the lowest first)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from foundation.schema import binary_schema
from labeling.campaign import rank_tasks
from labeling.priority import task_priority, to_priority, to_score, top_prediction
from labeling.projects import ProjectRef
from labeling.push import MaskPrediction, PushConfig, payload


def test_the_score_is_one_minus_the_priority_and_back():
    for p in (0.0, 0.07, 0.5, 0.93, 1.0):
        assert to_score(p) == pytest.approx(1.0 - p) and to_priority(to_score(p)) == pytest.approx(p)
    assert to_score(1.7) == 0.0 and to_score(-0.2) == 1.0  # kept in [0, 1]
    assert to_priority(None) is None
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            to_score(bad)


def test_ascending_score_is_descending_priority():
    priorities = [0.31, 0.92, 0.64, 0.05]
    by_score = sorted(priorities, key=to_score)  # Label Studio's stream: lowest score first
    assert by_score == sorted(priorities, reverse=True)


def test_a_task_reads_back_its_best_priority_and_the_prediction_to_start_from():
    task = {"id": 3, "predictions": [{"id": 10, "score": 0.6, "model_version": "m@v2"},
                                     {"id": 11, "score": 0.2, "model_version": "m@v1"},
                                     {"id": 12, "score": None, "model_version": "m@v2"}]}
    assert task_priority(task) == pytest.approx(0.8) and task_priority(task, "m@v2") == pytest.approx(0.4)
    assert task_priority(task, "m@v9") is None and task_priority({"id": 4}) is None
    assert top_prediction(task)["id"] == 11
    assert top_prediction({"id": 5, "predictions": [{"id": 7, "score": None}]})["id"] == 7  # unscored: still one
    assert top_prediction({"id": 6, "predictions": []}) is None


def test_pushed_predictions_carry_the_confidence_and_rank_back_by_priority():
    ref = ProjectRef(1, "p", binary_schema())
    items = [MaskPrediction(task, np.zeros((8, 8), np.uint8), priority) for task, priority in ((1, 0.2), (2, 0.9))]
    body = payload(items, ref, PushConfig("m@v1"))
    assert [b["score"] for b in body] == [pytest.approx(0.8), pytest.approx(0.1)]
    tasks = [{"id": b["task"], "predictions": [b]} for b in body]
    assert [(r.id, r.score) for r in rank_tasks(tasks, "m@v1")] == [(2, pytest.approx(0.9)), (1, pytest.approx(0.2))]
