"""Tile records merged into one image record (labeling/tiled.py), and rows Label Studio no longer backs dropped
from the dataset with their history (dataset/dropped.py, rows.withdrawals, validation)."""
from __future__ import annotations

from pathlib import Path

from dataset.dropped import DROPPED, Withdrawal, drop_items, read_dropped
from dataset.manifest import read_manifest
from dataset.rows import record_item, withdrawals
from dataset.store import add_items
from dataset.validate import validate
from foundation.pullrecord import AnnotationRow, PullRecord
from foundation.schema import binary_schema
from labeling.tiled import image_records, waiting
from tests.helpers import synthetic_items

SCHEMA = binary_schema()


def _tile(task_id: int, y: int, masked: bool = True, reason: str | None = None) -> PullRecord:
    box = {"y": y, "x": 0, "height": 2048, "width": 2048}
    return PullRecord(task_id, "big.tif", box, f"tiles/s/{task_id}.png" if masked else None, (task_id * 10,),
                      {"grain": 0.5}, (AnnotationRow(task_id, task_id * 10, f"a{task_id}", chosen=True),),
                      tile_count=2, reason=reason)


def test_tiles_merge_into_one_image_record_or_wait():
    small = PullRecord(1, "small.png", mask="masks/small.png")
    merged = image_records([small, _tile(5, 0), _tile(6, 952)], lambda r: "masks/big.png")
    assert [r.source for r in merged] == ["small.png", "big.tif"]
    big = merged[1]
    assert (big.task_id, big.task_ids, big.mask, big.tile, big.tile_count) == (5, (5, 6), "masks/big.png", None, 2)
    assert [p.annotation_id for p in big.chosen_rows] == [50, 60] and big.agreement == {"grain": 0.5}
    item = record_item(big, Path("/pull"), Path("/images"))
    assert item.id == "big" and item.mask == Path("/pull/masks/big.png")
    assert item.provenance["ls_task_id"] == 5 and item.provenance["ls_annotation_ids"] == [50, 60]
    assert item.provenance["annotators"] == ["a5", "a6"]
    half = image_records([_tile(5, 0), _tile(6, 952, masked=False, reason="annotation deleted")], lambda r: None)
    assert half[0].mask is None and half[0].reason.startswith("waiting for tiles: 1 of 2 annotated")
    assert "tile task 6: annotation deleted" in half[0].reason
    assert waiting(half) == [{"source": "big.tif", "annotated": 1, "tiles": 2, "task_ids": [5, 6],
                              "reason": half[0].reason}]
    assert [(w.id, w.task_ids) for w in withdrawals(half)] == [("big", (5, 6))]
    only_one = image_records([_tile(5, 0)], lambda r: "masks/big.png")  # a stale full mask with a tile missing
    assert only_one[0].mask is None and "1 of 2" in only_one[0].reason


def test_dropped_rows_leave_data_and_the_history_says_which_version_and_why(tmp_path, synthetic_dataset):
    data = tmp_path / "data"
    items = synthetic_items(synthetic_dataset, {"source": "synthetic", "ls_task_id": 7})[:3]
    add_items(data, items, SCHEMA)
    row = next(r for r in read_manifest(data) if r.id == items[0].id)
    assert drop_items(data, [Withdrawal(row.id, (8,), "not this task")], "dataset-v2") == []  # another task's row
    gone = drop_items(data, [Withdrawal(row.id, (7,), "annotation deleted")], "dataset-v2", at="t")
    assert [(d.id, d.version, d.reason, d.ls_task_id) for d in gone] == [(row.id, "dataset-v2", "annotation deleted", "7")]
    assert row.id not in {r.id for r in read_manifest(data)} and not (data / row.image).exists()
    assert not (data / row.mask).exists()
    assert len(validate(data, SCHEMA)) == 2  # the history is no orphan, the dataset stays valid
    assert drop_items(data, [Withdrawal(row.id, (7,), "annotation deleted")], "dataset-v2") == []
    assert [h.id for h in read_dropped(data)] == [row.id]  # a rerun doubles nothing
    (data / DROPPED).write_text("what\nx\n")
    try:
        validate(data, SCHEMA)
        raise AssertionError("a broken history must be reported")
    except ValueError as exc:
        assert DROPPED in str(exc)


def test_withdrawals_name_only_untiled_or_merged_records_without_a_mask():
    records = [PullRecord(1, "a.png", mask="masks/a.png"), PullRecord(2, "b.png", reason="annotation deleted"),
               PullRecord(3, "c.png", {"y": 0, "x": 0, "height": 9, "width": 9}), PullRecord(4, None)]
    assert withdrawals(records) == [Withdrawal("b", (2,), "annotation deleted")]
