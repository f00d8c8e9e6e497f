"""Touching grains drawn one region each reach the dataset as an instance map (issue 14): the class map merges
them, the instance map keeps them apart, so the loop's own labels teach a boundary model to split them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dataset.manifest import read_manifest
from dataset.rows import pulled_items
from dataset.store import add_items
from foundation.schema import binary_schema
from labeling.pullstore import PullStore
from labeling.pulltask import process_task
from labeling.regions import results_to_instances
from ml.io import read_mask
from tests.malformed_results import brush, polygon

SCHEMA = binary_schema()
SHAPE = (24, 32)


def _box(y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


LEFT, RIGHT, APART = _box(4, 2, 16, 12), _box(4, 12, 16, 22), _box(18, 26, 22, 30)  # LEFT and RIGHT touch


def _task(*results: dict, annotations: int = 1) -> dict:
    return {"id": 7, "data": {"source": "a.png", "height": SHAPE[0], "width": SHAPE[1]},
            "annotations": [{"id": 100 + k, "result": list(results)} for k in range(annotations)]}


def test_each_region_is_a_grain_and_each_apart_piece_too():
    ids = results_to_instances([polygon(LEFT), polygon(RIGHT), brush(APART | _box(0, 28, 2, 30))], SCHEMA, *SHAPE)
    assert ids.max() == 4  # LEFT, RIGHT, and the one brush stroke's two apart pieces
    assert len(np.unique(ids[LEFT > 0])) == 1 and len(np.unique(ids[RIGHT > 0])) == 1
    assert ids[LEFT > 0][0] != ids[RIGHT > 0][0]
    erased = results_to_instances([polygon(LEFT), polygon(_box(4, 2, 16, 7), "background")], SCHEMA, *SHAPE)
    assert (erased[4:16, 2:7] == 0).all() and erased.max() == 1


def test_touching_grains_drawn_apart_come_with_an_instance_map():
    result = process_task(_task(polygon(LEFT), polygon(RIGHT), polygon(APART)), SCHEMA, "latest", None)
    assert result.mask is not None and result.instances is not None
    assert result.instances.max() == 3  # the class map has 2 components: the touching pair is one of them
    assert np.array_equal(result.instances > 0, result.mask > 0)


def test_no_instance_map_where_the_class_map_already_tells_the_grains_apart():
    one_brush = process_task(_task(brush(LEFT | RIGHT | APART)), SCHEMA, "latest", None)
    assert one_brush.mask is not None and one_brush.instances is None
    fused = process_task(_task(polygon(LEFT), polygon(RIGHT), annotations=2), SCHEMA, "majority", None)
    assert fused.mask is not None and len(fused.chosen) == 2 and fused.instances is None  # no one annotation's


def test_the_pull_store_and_the_dataset_keep_the_instance_map(tmp_path):
    store = PullStore(tmp_path / "pull", SCHEMA)
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full(SHAPE, 128, np.uint8)).save(images / "a.png")
    store.save(process_task(_task(polygon(LEFT), polygon(RIGHT)), SCHEMA, "latest", None))
    (record,) = store.records()
    assert record.instances == "instances/a.png"
    (item,) = pulled_items([record], store.out, images)
    data = tmp_path / "data"
    add_items(data, [item], SCHEMA)
    (row,) = read_manifest(data)
    assert row.instances == "instances/a.png" and read_mask(data / row.instances).max() == 2

    store.save(process_task(_task(brush(LEFT | RIGHT)), SCHEMA, "latest", None))  # redrawn as one region
    (record,) = store.records()
    assert record.instances is None and not (store.out / "instances" / "a.png").exists()
    report = add_items(data, pulled_items([record], store.out, images), SCHEMA)
    (row,) = read_manifest(data)
    assert report.updated == ["a"] and row.instances == "" and not (data / "instances" / "a.png").exists()
    assert not Path(data / "instances").exists() or not any((data / "instances").iterdir())
