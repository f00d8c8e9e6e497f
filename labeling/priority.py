"""grainloop's active-learning priority and Label Studio's prediction ``score``: the one place that converts them.

The priority is what a sampling strategy gives an image (ml/sampling: in [0, 1], higher = label first). Label
Studio reads a prediction's ``score`` as the model's confidence: with "Uncertainty sampling" its label stream
(``/api/projects/ID/next``, the UI's "Label All Tasks"; ``projects/functions/next_task.py``
``_try_uncertainty_sampling`` in 1.23.2) serves the tasks holding a prediction of the project's ``model_version``
by that prediction's score, lowest first, and the others only after them, at random. So the score pushed is
``1 - priority`` (the server accepts any float; this keeps it in [0, 1]) and the priority read back is
``1 - score``: the most informative task is served first, and the Data Manager's "Prediction score" column shows
the champion's confidence, lowest first in the loop's score tab.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

SAMPLING = "Uncertainty sampling"  # the project setting under which the label stream follows the score


def to_score(priority: float) -> float:
    """The ``score`` a prediction carries in Label Studio for this active-learning priority: 1 - priority,
    clipped to [0, 1]."""
    value = float(priority)
    if not math.isfinite(value):
        raise ValueError(f"an active-learning priority must be a finite number, got {priority!r}")
    return min(1.0, max(0.0, 1.0 - value))


def to_priority(score: float | None) -> float | None:
    """The active-learning priority of a prediction ``score`` read from Label Studio (None stays None)."""
    return None if score is None else 1.0 - float(score)


def prediction_priority(prediction: Mapping) -> float | None:
    return to_priority(prediction.get("score"))


def scored_predictions(task: Mapping, model_version: str | None = None) -> list[tuple[float, Mapping]]:
    """(priority, prediction) for each scored prediction of a task (of ``model_version`` only, when given)."""
    return [(p, pred) for pred in task.get("predictions") or []
            if (model_version is None or pred.get("model_version") == model_version)
            and (p := prediction_priority(pred)) is not None]


def task_priority(task: Mapping, model_version: str | None = None) -> float | None:
    """The highest priority among a task's predictions (of ``model_version`` only, when given); None: unscored."""
    return max((p for p, _ in scored_predictions(task, model_version)), default=None)


def top_prediction(task: Mapping) -> Mapping | None:
    """The task's prediction with the highest priority, unscored ones last (a person correcting the task starts
    from this one); None without predictions."""
    def rank(prediction: Mapping) -> tuple[bool, float]:
        priority = prediction_priority(prediction)
        return priority is not None, priority or 0.0

    return max(task.get("predictions") or [], key=rank, default=None)
