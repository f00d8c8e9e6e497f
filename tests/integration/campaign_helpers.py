"""Shared by the campaign tests: the project's tasks, the champion's pre-annotations with known scores, and
annotators taking tasks from the label stream through their own tokens."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import httpx
import numpy as np

from labeling.api import Connection, iter_tasks
from labeling.projects import project_ref
from labeling.push import MaskPrediction, PushConfig, push_predictions
from labeling.regions import brush_results

PREDICTION_VERSION = "champion@v1"


def tasks_of(server, project_id: int) -> dict[int, dict]:
    with Connection.open(server.settings) as conn:
        return {int(t["id"]): t for t in iter_tasks(conn, project_id, page_size=1000, all_fields=True)}


def push_scores(server, loop, project_id: int, box: tuple[slice, slice] | None = None) -> dict[int, float]:
    """The champion's pre-annotations (empty masks, or foreground in ``box``) with known scores, not in task-id
    order."""
    with Connection.open(server.settings) as conn:
        project = project_ref(conn.sdk, project_id, loop.schema)
        open_ = [t for t in iter_tasks(conn, project_id, page_size=100) if not t["total_annotations"]]
        scores = {int(t["id"]): ((i * 7) % 13 + 1) / 14 for i, t in enumerate(open_)}
        items = []
        for t in open_:
            mask = np.zeros((t["data"]["height"], t["data"]["width"]), np.uint8)
            if box is not None:
                mask[box] = 1
            items.append(MaskPrediction(t["id"], mask, scores[int(t["id"])]))
        push_predictions(conn, project, PushConfig(PREDICTION_VERSION), items)
    return scores


def client(server, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.settings.url, headers={"Authorization": f"Token {token}"}, timeout=60)


def fixed_mask(email: str, task: dict) -> np.ndarray:
    mask = np.zeros((task["data"]["height"], task["data"]["width"]), np.uint8)
    mask[4:20, 6:30] = 1
    return mask


def label_until_empty(server, project_id: int, tokens: dict[str, str], schema,
                      draw: Callable[[str, dict], np.ndarray] = fixed_mask,
                      extra: Callable[[str, dict], dict] = lambda email, task: {"lead_time": 3.0},
                      posted: list | None = None) -> dict[str, list[int]]:
    """Round-robin: each annotator asks /next and submits ``draw``'s mask (with ``extra``'s fields), until every
    stream answers 404. ``posted`` collects (e-mail, task, the created annotation, the mask) in order."""
    served: dict[str, list[int]] = defaultdict(list)
    clients = {e: client(server, t) for e, t in tokens.items()}
    active = set(clients)
    for _ in range(100):
        for email in sorted(active):
            answer = clients[email].get(f"/api/projects/{project_id}/next/")
            if answer.status_code == 404:
                active.discard(email)
                continue
            assert answer.status_code == 200, answer.text
            task = answer.json()
            mask = draw(email, task)
            made = clients[email].post(f"/api/tasks/{task['id']}/annotations/",
                                       json={"result": brush_results(mask, schema), **extra(email, task)})
            assert made.status_code == 201, made.text
            served[email].append(int(task["id"]))
            if posted is not None:
                posted.append((email, int(task["id"]), made.json(), mask))
        if not active:
            break
    assert not active, "the label stream never ran dry"
    for c in clients.values():
        c.close()
    return served
