"""Consensus and review (issue 15): annotators who disagree, or work not yet reviewed where review is required,
send nothing to the dataset until a reviewer settles it; rejected annotations never do, until reworked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dataset.rows import pulled_items, withdrawals
from foundation.pullrecord import PullRecord
from foundation.schema import binary_schema
from labeling.consensus import Consensus
from labeling.pull import PullConfig
from labeling.pullstore import PullStore
from labeling.pulltask import process_task
from labeling.review import REVIEWS_KEY, Verdict, apply_reviews, task_reviews
from tests.malformed_results import brush

SCHEMA = binary_schema()
SHAPE = (24, 32)


def _square(y0: int, x0: int, size: int = 12) -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[y0:y0 + size, x0:x0 + size] = 1
    return mask


def _task(*masks: np.ndarray, reviewed: int | None = None) -> dict:
    annotations = [{"id": 100 + k, "result": [brush(m)], "updated_at": f"2026-01-01T00:00:0{k}Z",
                    "ground_truth": k == reviewed} for k, m in enumerate(masks)]
    return {"id": 7, "data": {"source": "a.png", **dict(zip(("height", "width"), SHAPE))}, "annotations": annotations}


def test_disagreeing_annotators_are_held_and_agreeing_ones_pass():
    apart = _task(_square(0, 0), _square(12, 20))  # IoU 0
    held = process_task(apart, SCHEMA, "staple", None, Consensus(0.6))
    assert held.mask is None and held.chosen == [] and held.held.startswith("held for review: agreement 0.000 below 0.6")
    assert not any(row["chosen"] for row in held.provenance) and len(held.provenance) == 2
    close = _task(_square(0, 0), _square(1, 0))  # IoU 11/13
    passed = process_task(close, SCHEMA, "staple", None, Consensus(0.6))
    assert passed.mask is not None and passed.held is None and passed.chosen == [100, 101]
    assert process_task(apart, SCHEMA, "staple", None).mask is not None  # no threshold: never held


def test_a_reviewed_annotation_settles_a_held_task():
    result = process_task(_task(_square(0, 0), _square(12, 20), reviewed=1), SCHEMA, "majority", None,
                          Consensus(0.6))
    assert result.held is None and result.chosen == [101]
    assert np.array_equal(result.mask, _square(12, 20))
    assert [row["chosen"] for row in result.provenance] == [False, True]
    assert {row["policy"] for row in result.provenance} == {"reviewed"}  # the verdict decided, not the policy
    (item,) = pulled_items([PullRecord.from_dict({"task_id": 7, "source": "a.png", "mask": "masks/a.png",
                                                  "provenance": result.provenance})], Path("/pull"), Path("/images"))
    assert item.provenance["policy"] == "reviewed"  # the dataset row records how its mask was decided


def test_a_held_task_is_recorded_without_a_mask_and_its_row_is_withdrawn(tmp_path):
    store = PullStore(tmp_path, SCHEMA)
    result = process_task(_task(_square(0, 0), _square(12, 20)), SCHEMA, "latest", None, Consensus(0.5))
    assert store.save(result) is None
    (record,) = store.records()
    assert isinstance(record, PullRecord) and record.mask is None and record.reason.startswith("held for review")
    (gone,) = withdrawals([record])
    assert gone.reason == record.reason


def test_the_threshold_is_checked_where_it_is_set(tmp_path):
    with pytest.raises(ValueError, match="between 0 and 1"):
        Consensus(1.5)


def _verdict(annotation: dict, verdict: str, comment: str = "") -> dict:
    return {"verdict": verdict, "comment": comment, "reviewer": "rev@lab",
            "annotation_updated_at": annotation["updated_at"], "at": "2026-12-02T00:00:00Z"}


def test_a_rejected_annotation_is_left_out_until_its_annotator_reworks_it(tmp_path):
    task = _task(_square(0, 0))
    first = task["annotations"][0]
    task["meta"] = {REVIEWS_KEY: {str(first["id"]): _verdict(first, "rejected", "grains at the top are missing")}}
    result = process_task(task, SCHEMA, "latest", None)
    assert result.mask is None and result.rejected == [(100, "grains at the top are missing")]
    store = PullStore(tmp_path, SCHEMA)
    store.save(result)
    assert store.records()[0].reason == "rejected in review: annotation 100: grains at the top are missing"
    first["updated_at"] = "2026-01-02T00:00:00Z"  # the annotator changed it: the verdict no longer applies
    again = process_task(task, SCHEMA, "latest", None)
    assert again.mask is not None and again.rejected == []


def test_with_review_required_only_accepted_or_agreeing_work_enters():
    rule = Consensus(min_agreement=0.6, require_review=True)
    one = _task(_square(0, 0))
    waiting = process_task(one, SCHEMA, "latest", None, rule)
    assert waiting.mask is None and waiting.held == "held for review: waiting for a reviewer's verdict (1 annotation(s))"
    first = one["annotations"][0]
    one["meta"] = {REVIEWS_KEY: {str(first["id"]): _verdict(first, "accepted")}}
    accepted = process_task(one, SCHEMA, "latest", None, rule)
    assert accepted.held is None and accepted.chosen == [100]
    agreeing = process_task(_task(_square(0, 0), _square(1, 0)), SCHEMA, "majority", None, rule)
    assert agreeing.held is None and agreeing.chosen == [100, 101]  # consensus needs no reviewer


def test_malformed_review_meta_is_ignored():
    annotations = [{"id": 1, "updated_at": "t"}, {"id": 2, "updated_at": "t"}]
    bad = [None, "x", {REVIEWS_KEY: "x"}, {REVIEWS_KEY: {"1": "x", "two": {}, "2": {"verdict": "maybe"}}},
           {REVIEWS_KEY: {"1": {**_verdict(annotations[0], "rejected"), "verdict": "bogus"}}}]
    for meta in bad:
        reviews = task_reviews({"meta": meta})
        assert reviews == {} and apply_reviews(annotations, reviews) == (annotations, [])
    good = task_reviews({"meta": {REVIEWS_KEY: {"2": _verdict(annotations[1], "accepted")}}})
    assert isinstance(good[2], Verdict) and apply_reviews(annotations, good)[0][1]["reviewed"] is True


def test_each_annotation_is_scored_against_the_consensus_and_every_pair_recorded(tmp_path):
    a, b, c = _square(0, 0), _square(1, 0), _square(12, 20)
    result = process_task(_task(a, b, c), SCHEMA, "majority", None)
    fused = ((a.astype(int) + b + c) >= 2).astype(np.uint8)  # the 2-of-3 vote
    iou = lambda x, y: np.count_nonzero(x & y) / np.count_nonzero(x | y)
    assert [row["consensus_iou"] for row in result.provenance] == pytest.approx([iou(a, fused), iou(b, fused), 0.0])
    assert [row["consensus_by_class"]["grain"] for row in result.provenance] == [row["consensus_iou"]
                                                                               for row in result.provenance]
    assert result.pairs == [(100, 101, pytest.approx(iou(a, b))), (100, 102, 0.0), (101, 102, 0.0)]
    store = PullStore(tmp_path, SCHEMA)
    store.save(result)
    (record,) = store.records()
    assert record.pairs[0][:2] == (100, 101) and record.provenance[2].consensus_iou == 0.0
    single = process_task(_task(a), SCHEMA, "latest", None)
    assert single.pairs == [] and "consensus_iou" not in single.provenance[0]
