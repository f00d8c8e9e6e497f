"""The campaign plan (labeling/campaign.py), pure: slots, overlap, order by the champion's score, gold at the team's
size, refusals that list every problem, and the plan's JSON round trip."""
from __future__ import annotations

import json

import pytest

from labeling.campaign import (CampaignError, CampaignPlan, CampaignSpec, GoldTask, RankedTask, campaign_size,
                               differences, gold_task_ids, load_plan, plan_tasks, rank_tasks, save_plan, spread)

TEAM = ("ana@lab.test", "ben@lab.test", "cy@lab.test")


def _ranked(n: int) -> list[RankedTask]:
    return [RankedTask(100 + i, 1.0 - i / 100) for i in range(n)]


def test_slots_are_spent_exactly_on_single_and_overlap_tasks():
    spec = CampaignSpec(TEAM, tasks_each=10, overlap_share=0.2, overlap=2)
    tasks = plan_tasks(_ranked(100), spec)
    shared = [t for t in tasks if t.overlap == 2]
    assert len(tasks) == 25 and len(shared) == 5  # 25 * 0.8 + 25 * 0.2 * 2 = 30 = 3 annotators x 10
    assert sum(t.overlap for t in tasks) == spec.slots
    assert {t.overlap for t in tasks} == {1, 2}


@pytest.mark.parametrize("share, overlap, expected", [(0.0, 2, (12, 0)), (1.0, 2, (6, 6)), (1.0, 3, (4, 4)),
                                                      (0.5, 2, (8, 4)), (0.2, 3, (8, 2))])
def test_campaign_size_fits_the_slots(share, overlap, expected):
    tasks, shared = campaign_size(12, share, overlap, available=100)
    assert (tasks, shared) == expected
    assert tasks + shared * (overlap - 1) <= 12


def test_fewer_open_tasks_than_slots_takes_them_all():
    assert campaign_size(30, 0.2, 2, available=7) == (7, 1)
    assert campaign_size(30, 0.2, 2, available=0) == (0, 0)


def test_tasks_are_the_best_ranked_in_score_order_and_overlap_is_spread_over_the_ranking():
    """The predictions' ``score`` is Label Studio's: the champion's confidence, 1 - priority (labeling/priority.py);
    the ranking is by priority, highest first, as Label Studio's stream serves them (lowest score first)."""
    raw = [{"id": 1, "predictions": [{"score": 0.8, "model_version": "m@v1"}, {"score": 0.1, "model_version": "m@v0"}]},
           {"id": 2, "predictions": [{"score": 0.3, "model_version": "m@v1"}]},
           {"id": 3, "predictions": []},
           {"id": 4, "predictions": [{"score": 0.3, "model_version": "m@v1"}]},
           {"id": 5, "predictions": [{"score": 0.05, "model_version": "m@v1"}]}]
    assert [r.id for r in rank_tasks(raw)] == [5, 1, 2, 4, 3]  # any version: task 1's 0.1 (priority 0.9) counts
    ranked = rank_tasks(raw, model_version="m@v1")  # the champion's only; unscored last; ties by id
    assert [r.id for r in ranked] == [5, 2, 4, 1, 3]
    assert [r.score for r in ranked] == [pytest.approx(s) for s in (0.95, 0.7, 0.7, 0.2)] + [None]
    spec = CampaignSpec(TEAM[:2], tasks_each=2, overlap_share=0.5, overlap=2)
    tasks = plan_tasks(ranked, spec)
    assert [(t.id, t.overlap) for t in tasks] == [(5, 1), (2, 2), (4, 1)]  # 3 tasks: 2 x 1 + 1 x 2 = 4 slots
    assert spread(10, 2) == [2, 7] and spread(10, 0) == [] and spread(3, 3) == [0, 1, 2]


def test_gold_goes_to_the_whole_team_and_is_kept_apart():
    spec = CampaignSpec(TEAM, tasks_each=2, overlap_share=0.0, gold=2)
    plan = CampaignPlan("c1", 7, spec, plan_tasks(_ranked(10), spec),
                        (GoldTask("c1/a1.png", "dataset-v1", "img001", "masks/img001.png", task_id=900),
                         GoldTask("c1/b2.png", "dataset-v1", "img002", "masks/img002.png")))
    overlaps = plan.overlaps()
    assert overlaps[900] == 3 and len(overlaps) == 7  # six single tasks and the imported gold one
    assert plan.gold_ids == {900}
    assert "1 gold" not in plan.describe() and "2 gold at overlap 3" in plan.describe()


def test_a_spec_with_several_problems_lists_them_all():
    with pytest.raises(CampaignError) as refused:
        CampaignSpec(("ana@lab.test", "not-an-email", "ANA@lab.test"), tasks_each=0, overlap_share=1.5, overlap=1,
                     gold=-1)
    message = str(refused.value)
    for part in ("'not-an-email' is not an e-mail", "given twice: ana@lab.test", "tasks each must be at least 1",
                 "overlap share must be in [0, 1]", "overlap must be at least 2", "gold must be 0 or more"):
        assert part in message, message
    with pytest.raises(CampaignError, match="overlap 3 needs at least 3 annotators, got 2"):
        CampaignSpec(TEAM[:2], tasks_each=4, overlap=3)
    with pytest.raises(CampaignError, match="no annotators"):
        CampaignSpec((), tasks_each=4)
    assert CampaignSpec(TEAM[:2], tasks_each=4, overlap_share=0.0, overlap=3).slots == 8  # no overlap: any team


def test_the_plan_round_trips_through_json_and_gold_ids_are_found_across_campaigns(tmp_path):
    spec = CampaignSpec((" Ana@Lab.test ",) + TEAM[1:], tasks_each=3, overlap_share=0.5, gold=1)
    assert spec.annotators[0] == "ana@lab.test"
    plan = CampaignPlan("c1", 7, spec, plan_tasks(_ranked(9), spec),
                        (GoldTask("c1/a1.png", "dataset-v2", "x", "masks/x.png", 55),), held_out=(3, 4), created_at="t")
    save_plan(tmp_path / "campaigns" / "c1", plan)
    assert load_plan(tmp_path / "campaigns" / "c1") == plan
    assert load_plan(tmp_path / "campaigns" / "none") is None
    text = (tmp_path / "campaigns" / "c1" / "plan.json").read_text()
    assert json.loads(text)["gold"][0]["row_id"] == "x"
    assert gold_task_ids(tmp_path / "campaigns") == {55} and gold_task_ids(tmp_path / "absent") == set()
    other = CampaignSpec(TEAM, tasks_each=4, overlap_share=0.5, gold=1)
    assert differences(spec, other) == ["tasks_each: 3 -> 4"]
