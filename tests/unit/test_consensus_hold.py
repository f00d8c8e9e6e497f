"""Consensus hold-back (issue 15): annotators who disagree send nothing to the dataset until a review settles it."""
from __future__ import annotations

import numpy as np
import pytest

from dataset.rows import withdrawals
from foundation.pullrecord import PullRecord
from foundation.schema import binary_schema
from labeling.pull import PullConfig
from labeling.pullstore import PullStore
from labeling.pulltask import process_task
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
    held = process_task(apart, SCHEMA, "staple", None, min_agreement=0.6)
    assert held.mask is None and held.chosen == [] and held.held.startswith("held for review: agreement 0.000 below 0.6")
    assert not any(row["chosen"] for row in held.provenance) and len(held.provenance) == 2
    close = _task(_square(0, 0), _square(1, 0))  # IoU 11/13
    passed = process_task(close, SCHEMA, "staple", None, min_agreement=0.6)
    assert passed.mask is not None and passed.held is None and passed.chosen == [100, 101]
    assert process_task(apart, SCHEMA, "staple", None).mask is not None  # no threshold: never held


def test_a_reviewed_annotation_settles_a_held_task():
    result = process_task(_task(_square(0, 0), _square(12, 20), reviewed=1), SCHEMA, "majority", None,
                          min_agreement=0.6)
    assert result.held is None and result.chosen == [101]
    assert np.array_equal(result.mask, _square(12, 20))
    assert [row["chosen"] for row in result.provenance] == [False, True]


def test_a_held_task_is_recorded_without_a_mask_and_its_row_is_withdrawn(tmp_path):
    store = PullStore(tmp_path, SCHEMA)
    result = process_task(_task(_square(0, 0), _square(12, 20)), SCHEMA, "latest", None, min_agreement=0.5)
    assert store.save(result) is None
    (record,) = store.records()
    assert isinstance(record, PullRecord) and record.mask is None and record.reason.startswith("held for review")
    (gone,) = withdrawals([record])
    assert gone.reason == record.reason


def test_the_threshold_is_checked_where_it_is_set(tmp_path):
    with pytest.raises(ValueError, match="between 0 and 1"):
        PullConfig(tmp_path, min_agreement=1.5)
