"""Issue 15: inside a campaign, Label Studio serves each annotator the tasks in the order of the champion's
active-learning priority, through the annotator's own token (``/api/projects/ID/next``, the UI's "Label All Tasks").

Sixteen tasks get an older version's predictions with the opposite priorities, then the champion's (the project's
model_version) on all but one task, with distinct priorities in no task-id order. The pushed score is the
champion's confidence (1 - priority, labeling/priority.py); "Uncertainty sampling" serves the tasks holding a
prediction of the project's model_version by that score, lowest first (``_try_uncertainty_sampling`` in
``projects/functions/next_task.py``), after the overlap filter (``show_overlap_first``).

Label Studio picks at random instead of the first task when its project counts more than one annotator
(``project.annotators()``: team and project members). Community never has any (``add_collaborator`` is never
called, there are no teams), so the stream is exact for one annotator and for three: this test asserts both.
(Were the random branch taken, ``_get_random_unlocked`` ignores its ``upper_limit`` of num_annotators + 1 and
draws among every task holding a current prediction; with one annotator the order is exact in any case.)

1. One annotator, a campaign of 5 tasks: its stream is exactly the plan, highest priority first.
2. Three annotators, 6 tasks of which 3 at overlap 2, round robin: the overlap tasks come first, each to two
   annotators in turn, highest priority first, then the single tasks in priority order.
3. Both campaigns closed, no campaign: the project's stream serves the rest by priority, the task without the
   champion's prediction last (its older prediction does not count); the score tab lists them in that order.
"""
from __future__ import annotations

import uuid

import numpy as np
import pytest

from flows.campaign import close_campaign, plan_campaign
from labeling.accounts import read_accounts
from labeling.api import Connection
from labeling.campaign import CampaignSpec
from labeling.priority import SAMPLING, to_priority
from labeling.projects import project_ref
from labeling.push import MaskPrediction, PushConfig, order_by_score, push_predictions
from tests.integration.campaign_helpers import PREDICTION_VERSION, label_until_empty, tasks_of
from tests.integration.loop_helpers import demo_setup

pytestmark = pytest.mark.slow
OLDER = "champion@v0"
SOLO = f"solo-{uuid.uuid4().hex[:6]}@lab.test"
TEAM = tuple(f"{who}-{uuid.uuid4().hex[:6]}@lab.test" for who in ("ana", "ben", "cy"))


def _push(server, loop, project_id: int, version: str, priorities: dict[int, float]) -> None:
    with Connection.open(server.settings) as conn:
        tasks = tasks_of(server, project_id)
        items = [MaskPrediction(t, np.zeros((tasks[t]["data"]["height"], tasks[t]["data"]["width"]), np.uint8), p)
                 for t, p in priorities.items()]
        push_predictions(conn, project_ref(conn.sdk, project_id, loop.schema), PushConfig(version), items)


def _stream(server, project_id: int, tokens: dict[str, str], schema) -> tuple[list[int], list[str]]:
    """The tasks the label stream served, in the order served (round robin over the annotators), and its queues."""
    posted, queues = [], []

    def note(email: str, task: dict) -> dict:
        queues.append(task.get("queue", ""))
        return {"lead_time": 2.0}

    label_until_empty(server, project_id, tokens, schema, extra=note, posted=posted)
    return [task for _, task, _, _ in posted], queues


def test_the_label_stream_serves_each_annotator_by_the_champions_priority(tmp_path, sample, server):
    _, loop, project_id = demo_setup(tmp_path / f"order-{uuid.uuid4().hex[:6]}", sample, server)
    ids = sorted(tasks_of(server, project_id))
    assert len(ids) == 16
    ranks = np.random.default_rng(3).permutation(len(ids))
    priority = {t: float(r + 1) / (len(ids) + 1) for t, r in zip(ids, ranks)}
    unscored = ids[0]  # the first task in id order (Sequential sampling would serve it first) has no champion's
    _push(server, loop, project_id, OLDER, {t: 1.0 - p for t, p in priority.items()})
    _push(server, loop, project_id, PREDICTION_VERSION, {t: p for t, p in priority.items() if t != unscored})
    best = sorted((t for t in ids if t != unscored), key=lambda t: -priority[t])
    assert best != sorted(best)  # the priority order is not the id order
    with Connection.open(server.settings) as conn:
        project = conn.request("GET", f"/api/projects/{project_id}/")
    assert (project["sampling"], project["model_version"]) == (SAMPLING, PREDICTION_VERSION)

    # 1. one annotator: exactly the plan, highest priority first
    solo = plan_campaign(loop, CampaignSpec((SOLO,), tasks_each=5, overlap_share=0.0), "solo")
    assert [t.id for t in solo.plan.tasks] == best[:5]
    assert [t.score for t in solo.plan.tasks] == pytest.approx([priority[t] for t in best[:5]])
    solo_token = {SOLO: read_accounts(solo.accounts_file)[SOLO].token}
    served, queues = _stream(server, project_id, solo_token, loop.schema)
    assert served == best[:5]
    assert all("Active learning" in q for q in queues), queues  # Uncertainty sampling's queue, not Sequential's
    close_campaign(loop, "solo")

    # 2. three annotators, overlap 2 on half the tasks: overlap tasks first, each in priority order
    team = plan_campaign(loop, CampaignSpec(TEAM, tasks_each=3, overlap_share=0.5, overlap=2), "team")
    planned = [t.id for t in team.plan.tasks]
    assert planned == best[5:11]
    shared = [t.id for t in team.plan.tasks if t.overlap == 2]
    single = [t.id for t in team.plan.tasks if t.overlap == 1]
    assert len(shared) == 3 and len(single) == 3
    accounts = read_accounts(team.accounts_file)
    served, queues = _stream(server, project_id, {e: a.token for e, a in accounts.items()}, loop.schema)
    assert served == [t for t in shared for _ in range(2)] + single, (served, shared, single)
    assert all("Active learning" in q for q in queues), queues
    close_campaign(loop, "team")

    # 3. no campaign: the rest by priority, the task without the champion's prediction last
    rest = best[11:] + [unscored]
    served, _ = _stream(server, project_id, solo_token, loop.schema)
    assert served == rest
    with Connection.open(server.settings) as conn:
        view = order_by_score(conn, project_id)
        listed = conn.request("GET", "/api/tasks", params={"view": view, "page_size": 100})["tasks"]
    assert [t["id"] for t in listed] == best + [unscored]
    assert [to_priority(t["predictions_score"]) for t in listed[:-1]] == pytest.approx([priority[t] for t in best])
