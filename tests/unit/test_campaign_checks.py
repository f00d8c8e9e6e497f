"""The plan's pull-time checks (labeling/campaign_checks.py), pure, on hand-made Label Studio tasks: more
annotations than planned, an author off the roster, a gold flag set by an annotator, an edit by someone other than
the author that is not a reviewer's verdict; and a campaign that keeps to its plan shows none."""
from __future__ import annotations

from labeling.campaign import CampaignPlan, CampaignSpec, CampaignTask, GoldTask
from labeling.campaign_checks import FOREIGN_EDIT, GOLD_FLAG, OFF_ROSTER, OVER_OVERLAP, plan_violations
from labeling.review import REVIEWS_KEY

A, B, REV, ADMIN = "a@lab.test", "b@lab.test", "rev@lab.test", "admin@lab.test"
USERS = {1: A, 2: B, 3: REV, 4: ADMIN}
PLAN = CampaignPlan("c1", 7, CampaignSpec((A, B), tasks_each=2, overlap_share=0.5, overlap=2, gold=1),
                    (CampaignTask(10, 0.9, 2), CampaignTask(11, 0.8, 1), CampaignTask(12, 0.7, 1)),
                    (GoldTask("c1/g.png", "dataset-v1", "r1", "masks/r1.png", 20),), held_out=(30,),
                    reviewers=(REV,))


def _ann(aid: int, by: int, edited_by: int | None = None, updated: str = "t1", **kw) -> dict:
    return {"id": aid, "completed_by": by, "updated_by": by if edited_by is None else edited_by,
            "updated_at": updated, **kw}


def _verdict(reviewer: str, reviewed: str) -> dict:
    return {"verdict": "rejected", "comment": "", "reviewer": reviewer, "annotation_updated_at": reviewed, "at": "x"}


def test_a_campaign_that_keeps_to_its_plan_shows_no_violation():
    tasks = [{"id": 10, "annotations": [_ann(100, 1), _ann(101, 2, edited_by=3, updated="t2")],
              "meta": {REVIEWS_KEY: {"101": _verdict(REV, "t2")}}},  # the reviewer's verdict, still applying
             {"id": 11, "annotations": [_ann(110, 1), _ann(111, 2, was_cancelled=True)]},  # a skip is no submission
             {"id": 20, "annotations": [_ann(200, 1), _ann(201, 2)]},
             {"id": 30, "annotations": [_ann(300, 4), _ann(301, 4)]},  # outside the campaign: not checked
             {"id": 12, "annotations": [_ann(120, 2, edited_by=4, updated="t3")],  # the admin's verdict
              "meta": {REVIEWS_KEY: {"120": _verdict(ADMIN, "t3")}}}]
    assert plan_violations(PLAN, tasks, USERS) == ()


def test_each_violation_is_found_with_its_task_annotation_and_account():
    tasks = [{"id": 11, "annotations": [_ann(110, 1), _ann(111, 4)]},  # overlap 1: two; the admin is off roster
             {"id": 20, "annotations": [_ann(200, 1, ground_truth=True), _ann(201, 2)]},
             {"id": 10, "annotations": [
                 _ann(100, 1, edited_by=2),  # B edited A's work
                 _ann(101, 2, edited_by=3, updated="t9"),  # the reviewer's verdict no longer applies: changed since
                 {"id": 102, "completed_by": 9, "created_username": "x@y.test, 9"}],  # unknown user: off roster
              "meta": {REVIEWS_KEY: {"101": _verdict(REV, "t2")}}},
             {"id": 12, "annotations": [_ann(120, 1, edited_by=3)],  # a verdict given by another than the editor
              "meta": {REVIEWS_KEY: {"120": _verdict(ADMIN, "t1")}}}]
    found = [(v.kind, v.task_id, v.annotation_id, v.who) for v in plan_violations(PLAN, tasks, USERS)]
    assert found == [(OVER_OVERLAP, 10, None, ""), (FOREIGN_EDIT, 10, 100, B), (FOREIGN_EDIT, 10, 101, REV),
                     (OFF_ROSTER, 10, 102, "user 9"),
                     (OVER_OVERLAP, 11, None, ""), (OFF_ROSTER, 11, 111, ADMIN),
                     (FOREIGN_EDIT, 12, 120, REV),
                     (GOLD_FLAG, 20, 200, A)]
    over = plan_violations(PLAN, tasks, USERS)[0]
    assert over.detail == "3 annotations, planned overlap 2"


def test_a_gold_flag_from_a_reviewer_or_on_a_regular_task_is_not_an_annotators():
    tasks = [{"id": 20, "annotations": [_ann(200, 3, ground_truth=True)]},
             {"id": 11, "annotations": [_ann(110, 1, ground_truth=True)]}]
    assert plan_violations(PLAN, tasks, USERS) == ()


def test_the_status_shows_the_violations_in_its_table_and_json():
    from flows.campaign_report import sections
    from labeling.campaign_status import campaign_status

    found = plan_violations(PLAN, [{"id": 11, "annotations": [_ann(110, 1), _ann(111, 4)]}], USERS)
    status = campaign_status(PLAN, [], [], {}, [], found)
    checks = sections(status)[-1]
    assert checks.rows == ((OVER_OVERLAP, "11", "-", "-", "2 annotations, planned overlap 1"),
                           (OFF_ROSTER, "11", "111", ADMIN, f"annotation by {ADMIN}, not an annotator or reviewer"))
    assert checks.note == "2 violation(s)" and checks.title.startswith("Plan checks")
    assert [v["kind"] for v in status.to_dict()["violations"]] == [OVER_OVERLAP, OFF_ROSTER]
