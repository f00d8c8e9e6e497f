"""A campaign's figures (labeling/campaign_status.py), pure, checked against values computed by hand: tasks done
and assigned, median lead time, agreement with the consensus, gold accuracy, edit cost, rejections (standing and
reworked), held tasks, progress per hour or day, and the pairwise agreement matrix."""
from __future__ import annotations

import pytest

from foundation.pullrecord import AnnotationRow, PullRecord
from labeling.campaign import CampaignPlan, CampaignSpec, CampaignTask, GoldTask
from labeling.campaign_server import GoldScore
from labeling.campaign_status import Submission, campaign_status, progress, submissions
from labeling.review import REVIEWS_KEY

A, B, C = "a@lab.test", "b@lab.test", "c@lab.test"
HELD_REASON = "held for review: agreement 0.500 below 0.6 (2 annotations)"


def _plan() -> CampaignPlan:
    spec = CampaignSpec((A, B, C), tasks_each=2, overlap_share=0.5, overlap=2, gold=1)
    tasks = (CampaignTask(1, 0.9, 2), CampaignTask(2, 0.8, 1), CampaignTask(3, 0.7, 2), CampaignTask(4, 0.6, 1))
    return CampaignPlan("c1", 7, spec, tasks, (GoldTask("c1/ab.png", "dataset-v1", "r1", "masks/r1.png", 100),))


def _sub(task, ann, who, minute, lead):
    hour, mins = divmod(minute, 60)
    stamp = f"2026-12-02T{10 + hour:02d}:{mins:02d}:00Z"
    return Submission(task, ann, who, stamp, stamp, lead)


SUBS = [_sub(1, 11, A, 5, 10.0), _sub(1, 12, B, 20, 20.0), _sub(2, 21, C, 70, 30.0), _sub(3, 31, A, 90, 40.0),
        _sub(3, 32, C, 100, 50.0), _sub(4, 41, B, 120, 60.0), _sub(100, 101, A, 130, 5.0),
        _sub(100, 102, B, 140, 6.0), _sub(100, 103, C, 150, 7.0), _sub(999, 9991, A, 160, 99.0)]


def _row(task, ann, who, edit=None, cons=None):
    per = None if cons is None else {"grain": cons, "pore": None if cons > 0.75 else 1 - cons}
    return AnnotationRow(task, ann, who, edit_iou=edit, consensus_iou=cons, consensus_by_class=per)


RECORDS = [
    PullRecord(1, provenance=(_row(1, 11, A, 0.8, 0.9), _row(1, 12, B, 0.6, 0.7)), pairs=((11, 12, 0.5),),
               reason=HELD_REASON),
    PullRecord(2, mask="masks/2.png", provenance=(_row(2, 21, C, 0.5),)),
    PullRecord(3, mask="masks/3.png", provenance=(_row(3, 31, A, None, 0.8), _row(3, 32, C, 0.9, 0.6)),
               pairs=((31, 32, 0.7),)),
    PullRecord(4, reason="rejected in review: annotation 41: too coarse"),
    PullRecord(100, mask="masks/100.png", provenance=(_row(100, 101, A, None, 1.0), _row(100, 102, B, None, 0.5),
                                                      _row(100, 103, C, None, 0.5)),
               pairs=((101, 102, 0.4), (101, 103, 0.6), (102, 103, 0.2))),
    PullRecord(999, provenance=(_row(999, 9991, A, 0.0, 0.0),)),  # outside the campaign: not counted
]


def _verdict(verdict: str, reviewed_at: str) -> dict:
    return {"verdict": verdict, "comment": "", "reviewer": "rev@lab.test", "annotation_updated_at": reviewed_at,
            "at": "2026-12-02T13:00:00Z"}


METAS = {4: {REVIEWS_KEY: {"41": _verdict("rejected", SUBS[5].updated_at)}},  # stands
         3: {REVIEWS_KEY: {"32": _verdict("rejected", "2026-12-02T09:00:00Z")}},  # changed since: reworked
         1: {REVIEWS_KEY: {"11": _verdict("accepted", SUBS[0].updated_at), "bad": "x"}}}
GOLD = [GoldScore(100, 101, A, {"grain": 0.8}), GoldScore(100, 102, B, {"grain": 0.6}),
        GoldScore(100, 103, C, {"grain": None})]


def test_per_annotator_figures_equal_the_hand_computed_ones():
    status = campaign_status(_plan(), RECORDS, SUBS, METAS, GOLD)
    assert (status.tasks, status.asked, status.submitted) == (5, 9, 9)
    got = {f.annotator: f for f in status.annotators}
    assert list(got) == [A, B, C]
    a, b, c = got[A], got[B], got[C]
    assert (a.assigned, a.done, a.median_lead_time_s, a.rejected, a.reworked) == (3, 3, 10.0, 0, 0)
    assert (b.assigned, b.done, b.median_lead_time_s, b.rejected, b.reworked) == (3, 2, 20.0, 1, 0)
    assert (c.assigned, c.done, c.median_lead_time_s, c.rejected, c.reworked) == (3, 3, 30.0, 0, 1)
    assert a.consensus_iou == pytest.approx((0.9 + 0.8 + 1.0) / 3)
    assert b.consensus_iou == pytest.approx((0.7 + 0.5) / 2) and c.consensus_iou == pytest.approx((0.6 + 0.5) / 2)
    assert a.consensus_by_class == {"grain": pytest.approx((0.9 + 0.8 + 1.0) / 3), "pore": None}  # per class too
    assert b.consensus_by_class == {"grain": pytest.approx(0.6), "pore": pytest.approx((0.3 + 0.5) / 2)}
    assert a.edit_cost == pytest.approx(0.2) and b.edit_cost == pytest.approx(0.4)
    assert c.edit_cost == pytest.approx((0.5 + 0.1) / 2)
    assert a.gold_iou == {"grain": 0.8} and b.gold_mean == 0.6 and c.gold_iou == {"grain": None}
    assert c.gold_mean is None
    assert status.held == ((1, HELD_REASON),)
    assert status.progress == (("2026-12-02 10:00", 2), ("2026-12-02 11:00", 3), ("2026-12-02 12:00", 4))
    assert status.names == (A, B, C)
    m = status.pairwise
    assert m[0][0] is None and m[0][1] == pytest.approx(0.45) and m[1][0] == pytest.approx(0.45)
    assert m[0][2] == pytest.approx(0.65) and m[1][2] == pytest.approx(0.2) and m[2][1] == pytest.approx(0.2)
    assert status.to_dict()["annotators"][1]["gold_mean"] == 0.6


def test_someone_outside_the_plan_is_listed_with_nothing_assigned():
    extra = [_sub(2, 22, "rev@lab.test", 75, None)]
    status = campaign_status(_plan(), [], SUBS + extra, {}, [])
    rev = status.annotators[-1]
    assert (rev.annotator, rev.assigned, rev.done, rev.median_lead_time_s) == ("rev@lab.test", 0, 1, None)
    assert rev.consensus_iou is None and rev.edit_cost is None and rev.gold_iou == {}
    assert all(v is None for row in status.pairwise for v in row)


def test_progress_is_per_day_over_more_than_two_days():
    days = [Submission(1, i, A, f"2026-12-0{d}T08:00:00+02:00", "", None) for i, d in enumerate((1, 1, 3, 4))]
    assert progress(days) == (("2026-12-01", 2), ("2026-12-03", 1), ("2026-12-04", 1))
    assert progress([Submission(1, 1, A, "not a time", "", None)]) == ()


def test_submissions_leave_skips_out_and_name_the_annotator():
    task = {"id": 5, "annotations": [
        {"id": 1, "created_username": "a@lab.test, 3", "created_at": "t1", "updated_at": "t2", "lead_time": 4.5},
        {"id": 2, "completed_by": 9, "was_cancelled": True}, {"id": 3, "completed_by": 9, "lead_time": "x"}]}
    assert submissions([task]) == [Submission(5, 1, A, "t1", "t2", 4.5), Submission(5, 3, "9", "", "", None)]


def test_the_report_has_every_section_in_its_png_html_and_json(tmp_path):
    import json

    from flows.campaign_report import sections, write_report

    status = campaign_status(_plan(), RECORDS, SUBS, METAS, GOLD)
    png, page, data = write_report(status, tmp_path)
    assert png.read_bytes().startswith(b"\x89PNG") and json.loads(data.read_text()) == json.loads(
        json.dumps(status.to_dict()))
    html = page.read_text()
    assert all(s.title.split(" (")[0].split(":")[0] in html for s in sections(status)) and B in html
    people, held, over_time, matrix, checks = sections(status)
    assert people.rows[1] == (B, "2 / 3", "20.0", "0.600", "grain 0.600", "0.400", "1", "0")
    assert held.rows == (("1", HELD_REASON),) and over_time.rows[-1] == ("2026-12-02 12:00", "4", "9")
    assert matrix.rows[0] == (A, "-", "0.450", "0.650")
    assert checks.rows == () and checks.note == "no violation"
    empty = campaign_status(_plan(), [], [], {}, [])
    assert write_report(empty, tmp_path / "empty")[0].is_file() and not sections(empty)[3].rows
