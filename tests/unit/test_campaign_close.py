"""Closing a campaign, the pure part (labeling/campaign_server.py ``closing``): which held-out tasks get overlap 1
back (not those another open campaign on the project holds) and which settings are restored (the recorded ones,
Label Studio's defaults for an old plan, none while another campaign on the project is open); the plan's new
fields round-trip through plan.json, and an old plan.json without them still loads."""
from __future__ import annotations

import json
from dataclasses import replace

from labeling.campaign import CampaignPlan, CampaignSpec, CampaignTask, GoldTask, load_plan, save_plan
from labeling.campaign_server import DEFAULT_SETTINGS, closing

TEAM = ("ana@lab.test", "ben@lab.test")
SPEC = CampaignSpec(TEAM, tasks_each=2, overlap_share=0.0)
BEFORE = {"maximum_annotations": 3, "show_overlap_first": False, "sampling": "Uniform sampling"}


def _plan(name: str, tasks: tuple[int, ...], held: tuple[int, ...], project: int = 7, **kw) -> CampaignPlan:
    return CampaignPlan(name, project, SPEC, tuple(CampaignTask(i, None, 1) for i in tasks), held_out=held, **kw)


def test_a_lone_campaign_releases_every_held_task_and_restores_what_it_recorded():
    plan = _plan("c1", (1, 2, 3, 4), (5, 6, 7), previous_settings=BEFORE)
    change = closing(plan, [plan])
    assert change.released == (5, 6, 7) and change.settings == BEFORE
    older = {"maximum_annotations": 3, "show_overlap_first": False}  # recorded before campaigns set the sampling
    assert closing(replace(plan, previous_settings=older), [plan]).settings == {**older,
                                                                              "sampling": "Sequential sampling"}


def test_an_old_plan_without_recorded_settings_restores_label_studios_defaults():
    change = closing(_plan("c1", (1,), (5,)), [])
    assert change.settings == DEFAULT_SETTINGS == {"maximum_annotations": 1, "show_overlap_first": False,
                                                   "sampling": "Sequential sampling"}


def test_tasks_another_open_campaign_holds_stay_as_they_are_and_so_do_the_settings():
    old = _plan("c1", (1, 2), (3, 4, 5, 6, 7), previous_settings=BEFORE)
    new = CampaignPlan("c2", 7, SPEC, (CampaignTask(3, 0.9, 1),), (GoldTask("c2/g.png", "dataset-v1", "r", "m", 6),),
                       held_out=(4,))
    elsewhere = _plan("c3", (5,), (), project=8)  # another project: holds nothing here
    change = closing(old, [old, new, elsewhere])
    assert change.released == (5, 7) and change.settings is None
    closed = replace(new, closed_at="2026-12-02T23:00:00+00:00")  # a closed campaign holds nothing
    assert closing(old, [old, closed, elsewhere]).released == (3, 4, 5, 6, 7)
    assert closing(old, [old, closed]).settings == BEFORE


def test_reviewers_settings_and_closing_time_round_trip_and_an_old_plan_loads(tmp_path):
    plan = _plan("c1", (1,), (2,), reviewers=("rev@lab.test",), previous_settings=BEFORE, closed_at="t")
    save_plan(tmp_path / "c1", plan)
    assert load_plan(tmp_path / "c1") == plan
    data = json.loads((tmp_path / "c1" / "plan.json").read_text())
    for key in ("reviewers", "previous_settings", "closed_at"):
        del data[key]
    (tmp_path / "c1" / "plan.json").write_text(json.dumps(data))
    old = load_plan(tmp_path / "c1")
    assert (old.reviewers, old.previous_settings, old.closed_at) == ((), None, "")
