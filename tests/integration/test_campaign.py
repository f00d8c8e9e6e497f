"""`grainloop campaign plan` on the real Label Studio (design B): a loop with dataset-v1 and the champion's scores
on its open tasks, a campaign of three annotator accounts with overlap and gold, planned twice (the rerun changes
nothing). Then each annotator, through its own token, asks the label stream (``/next``) and submits a brush mask
until the stream is empty: no task gets more annotations than its overlap, nobody annotates a task twice, the
overlap tasks get exactly k annotators, every annotator gets every gold task, nobody is served a task outside
the campaign, each gold annotation's score equals the IoU computed here, and the loop's sync afterwards brings no
gold task into the dataset. The admin then writes into a full campaign task (Community lets it): the status lists
both violations. `grainloop campaign close` gives the held-out tasks back to the label stream (the annotators'
``/next`` serves exactly them), restores the project's settings (its Sequential sampling too: the campaign ran on
Uncertainty sampling; the order itself is tests/integration/test_campaign_order.py's), and refuses a rerun of the
plan."""
from __future__ import annotations

import json
import stat
import uuid

import numpy as np
import pytest
from typer.testing import CliRunner

from dataset.commit import checkout_version
from dataset.manifest import read_manifest
from flows.annotator import SimulatedAnnotator
from flows.campaign import plan_campaign
from flows.campaign_gold import score_gold
from flows.campaign_status import campaign_report, collect
from flows.cycle import version_dataset
from flows.loop_config import save_loop_config
from flows.sync import sync_annotations
from grainloop.cli import app
from labeling.accounts import read_accounts
from labeling.api import Connection
from labeling.campaign import CampaignSpec, load_plan
from labeling.campaign_checks import OFF_ROSTER, OVER_OVERLAP
from labeling.priority import SAMPLING
from labeling.regions import brush_results
from ml.io import read_mask
from tests.integration.campaign_helpers import fixed_mask, label_until_empty, push_scores, tasks_of
from tests.integration.loop_helpers import demo_setup

pytestmark = pytest.mark.slow
TEAM = tuple(f"{who}-{uuid.uuid4().hex[:6]}@lab.test" for who in ("ana", "ben", "cy"))
SEQUENTIAL = "Sequential sampling"


def test_three_annotators_take_a_planned_campaign_from_the_label_stream(tmp_path, sample, server, prefect_api):
    cfg, loop, project_id = demo_setup(tmp_path / f"campaign-{uuid.uuid4().hex[:6]}", sample, server)
    with Connection.open(server.settings) as conn:
        SimulatedAnnotator(cfg.truth, loop.schema).annotate(conn, project_id, 3)
    assert sync_annotations(loop).added == 3
    assert version_dataset(loop).version.tag == "dataset-v1"
    first_rows = {r.id: r for r in read_manifest(loop.versions.data_dir)}
    scores = push_scores(server, loop, project_id)
    assert len(scores) == 13
    with Connection.open(server.settings) as conn:  # a project made before projects used Uncertainty sampling
        conn.request("PATCH", f"/api/projects/{project_id}/", json={"sampling": SEQUENTIAL})

    spec = CampaignSpec(TEAM, tasks_each=3, overlap_share=0.5, overlap=2, gold=2)
    outcome = plan_campaign(loop, spec, "c1")
    plan = outcome.plan
    with Connection.open(server.settings) as conn:  # the campaign's stream follows the champion's score
        assert conn.request("GET", f"/api/projects/{project_id}/")["sampling"] == SAMPLING
    best = sorted(scores, key=lambda i: (-scores[i], i))
    assert [t.id for t in plan.tasks] == best[:6]  # 6 tasks: 3 x 1 + 3 x 2 = 9 slots = 3 annotators x 3
    assert sorted(t.overlap for t in plan.tasks) == [1, 1, 1, 2, 2, 2]
    assert set(plan.held_out) == set(best[6:])
    gold_ids = plan.gold_ids
    assert len(gold_ids) == 2 and {g.version for g in plan.gold} == {"dataset-v1"}
    assert {g.row_id for g in plan.gold} <= set(first_rows)

    tasks = tasks_of(server, project_id)
    regular = tasks[best[0]]["data"]
    for gid in gold_ids:  # the gold task's data looks like any task's: same fields, a neutral file name
        assert set(tasks[gid]["data"]) == set(regular) and "gold" not in json.dumps(tasks[gid]["data"]).lower()
    assert {tasks[t.id]["overlap"] for t in plan.tasks if t.overlap == 2} == {2}
    assert {tasks[g]["overlap"] for g in gold_ids} == {3}
    assert {tasks[h]["overlap"] for h in plan.held_out} == {0}

    accounts = read_accounts(outcome.accounts_file)
    assert stat.S_IMODE(outcome.accounts_file.stat().st_mode) == 0o600
    assert set(accounts) == set(TEAM) and all(a.password and a.token and a.user_id for a in accounts.values())
    plan_text = outcome.plan_file.read_text()
    assert not any(a.password in plan_text or a.token in plan_text for a in accounts.values())

    config = save_loop_config(loop, tmp_path / "loop.json")  # planning again, through the CLI: a resume
    args = ["campaign", "plan", "--loop", str(config), "--tasks-each", "3", "--overlap-share", "0.5", "--overlap",
            "2", "--gold", "2", "--name", "c1"] + [x for e in TEAM for x in ("--annotator", e)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "resumed" in result.stdout and str(outcome.accounts_file) in result.stdout
    assert not any(a.password in result.output or a.token in result.output for a in accounts.values())
    assert len(tasks_of(server, project_id)) == len(tasks)  # no second copy of a gold task
    again = read_accounts(outcome.accounts_file)
    assert {e: a.password for e, a in again.items()} == {e: a.password for e, a in accounts.items()}
    refused = CliRunner().invoke(app, [a if a != "3" else "4" for a in args])
    assert refused.exit_code == 1 and "tasks_each: 3 -> 4" in refused.output

    served = label_until_empty(server, project_id, {e: a.token for e, a in accounts.items()}, loop.schema)
    assert sum(len(v) for v in served.values()) == 9 + 2 * 3
    tasks = tasks_of(server, project_id)
    user = {a.user_id: e for e, a in accounts.items()}
    by_task = {tid: [user.get(a["completed_by"]) for a in t["annotations"]] for tid, t in tasks.items()}
    for t in plan.tasks:
        assert len(by_task[t.id]) == t.overlap and len(set(by_task[t.id])) == t.overlap, (t, by_task[t.id])
    for gid in gold_ids:
        assert sorted(by_task[gid]) == sorted(TEAM)
    for email, ids in served.items():
        assert len(ids) == len(set(ids)) and gold_ids <= set(ids) and not set(ids) & set(plan.held_out)
    assert all(not tasks[h]["annotations"] for h in plan.held_out)

    with Connection.open(server.settings) as conn:  # gold scored against the accepted masks, checked by hand
        scored = score_gold(conn, loop, plan)
    v1 = checkout_version(loop.versions, "dataset-v1", tmp_path / "v1")
    truth = {g.task_id: read_mask(v1 / g.mask) == 1 for g in plan.gold}
    assert sorted((s.task_id, s.annotator) for s in scored) == sorted((g, e) for g in gold_ids for e in TEAM)
    for s in scored:
        drawn = np.zeros(truth[s.task_id].shape, bool)
        drawn[4:20, 6:30] = True
        expected = (drawn & truth[s.task_id]).sum() / (drawn | truth[s.task_id]).sum()
        assert s.iou == {"grain": pytest.approx(expected)}

    synced = sync_annotations(loop)
    rows = read_manifest(loop.versions.data_dir)
    assert synced.added == 6 and synced.dropped == []
    assert not {r.ls_task_id for r in rows} & gold_ids and not [r for r in rows if r.id.startswith("c1/")]
    assert {r.id: r.ls_annotation_ids for r in rows if r.id in first_rows} == \
        {i: r.ls_annotation_ids for i, r in first_rows.items()}  # the gold images' own rows are untouched

    full = next(t.id for t in plan.tasks if t.overlap == 1)
    with Connection.open(server.settings) as conn:  # the admin writes into a full task: Community guards no write
        assert collect(conn, loop, plan).violations == ()
        admin = conn.request("GET", "/api/current-user/whoami")["email"].lower()
        mask = brush_results(fixed_mask(admin, tasks[full]), loop.schema)
        extra = conn.request("POST", f"/api/tasks/{full}/annotations/", json={"result": mask})["id"]
        found = [(v.kind, v.task_id, v.annotation_id, v.who) for v in collect(conn, loop, plan).violations]
    assert found == [(OVER_OVERLAP, full, None, ""), (OFF_ROSTER, full, extra, admin)]
    assert load_plan(outcome.plan_file.parent).previous_settings == {"maximum_annotations": 1,
                                                                      "show_overlap_first": False,
                                                                      "sampling": SEQUENTIAL}

    close = ["campaign", "close", "--loop", str(config), "--name", "c1"]
    for _ in range(2):  # the second close changes nothing
        closed = CliRunner().invoke(app, close, catch_exceptions=False)
        assert closed.exit_code == 0 and f"{len(plan.held_out)} held-out task(s) back" in closed.stdout, closed.output
    with Connection.open(server.settings) as conn:
        settings = conn.request("GET", f"/api/projects/{project_id}/")
    assert (settings["maximum_annotations"], settings["show_overlap_first"], settings["sampling"]) == (1, False,
                                                                                                      SEQUENTIAL)
    assert {tasks_of(server, project_id)[h]["overlap"] for h in plan.held_out} == {1}
    assert load_plan(outcome.plan_file.parent).closed_at
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "'c1' was closed" in refused.output
    served = label_until_empty(server, project_id, {e: a.token for e, a in accounts.items()}, loop.schema)
    assert sorted(i for ids in served.values() for i in ids) == sorted(plan.held_out)
    after = campaign_report(loop, "c1", log=False).status  # a closed campaign's status still works
    assert after.closed_at and after.violations[0].task_id == full
