"""Pure labeling functions: labeling config, brush RLE and polygons, components, regions (no server)."""
from __future__ import annotations

import numpy as np
import pytest

from foundation.schema import LabelClass, LabelSchema, binary_schema
from labeling.components import boxes, fill_holes, label
from labeling.config import ConfigMismatch, check_config, label_config, schema_from_config
from labeling.masks import BadRegion, mask_to_polygon, mask_to_rle, polygon_to_mask, rle_to_mask
from labeling.regions import instances, mask_to_results, results_to_mask

PHASES = LabelSchema.load("schemas/phases.yaml")


@pytest.mark.parametrize("schema", [binary_schema(), PHASES])
def test_config_round_trips_names_colours_and_tool(schema):
    xml = label_config(schema)
    back = schema_from_config(xml)
    assert back.classes == schema.classes and back.tool == schema.tool
    assert "BrushLabels" in xml and "PolygonLabels" in xml
    check_config(xml, schema)


def test_config_escapes_names_and_detects_mismatch():
    odd = LabelSchema("odd", (LabelClass('a "b" <c>', "#123456"),))
    assert schema_from_config(label_config(odd)).classes == odd.classes
    with pytest.raises(ConfigMismatch, match="clay-mix"):
        check_config(label_config(PHASES), binary_schema())


def test_rle_round_trip_exact_and_wrong_size_refused():
    mask = np.random.default_rng(0).random((37, 53)) > 0.7
    rle = mask_to_rle(mask)
    assert np.array_equal(rle_to_mask(rle, 37, 53), mask)
    with pytest.raises(BadRegion, match="pixels"):
        rle_to_mask(rle, 38, 53)


def _blob(h=60, w=80):
    yy, xx = np.mgrid[:h, :w]
    return ((yy - 30) ** 2 / 400 + (xx - 40) ** 2 / 900) < 1


def test_polygon_round_trip_exact():
    blob = _blob()
    points = mask_to_polygon(blob)
    assert all(0 <= x <= 100 and 0 <= y <= 100 for x, y in points)
    assert np.array_equal(polygon_to_mask(points, 60, 80), blob)
    notch = blob.copy()
    notch[28:31, 50:] = False
    assert np.array_equal(polygon_to_mask(mask_to_polygon(notch), 60, 80), notch)


@pytest.mark.parametrize("points,reason", [([[0, 0], [101, 0], [50, 50]], "outside"), ([[0, 0], [1, 1]], "at least 3")])
def test_bad_polygons(points, reason):
    with pytest.raises(BadRegion, match=reason):
        polygon_to_mask(points, 10, 10)


def test_components_and_holes():
    m = np.zeros((7, 9), bool)
    m[1:5, 1:5] = True
    m[2:4, 2:4] = False
    m[1:3, 7] = True
    labels, n = label(m)
    assert n == 2 and set(np.unique(labels)) == {0, 1, 2}
    filled = fill_holes(labels == 1)
    assert filled[2:4, 2:4].all() and filled.sum() == 16


def test_mask_to_results_brush_or_polygons_exact():
    mask = np.zeros((40, 50), np.uint8)
    mask[2:8, 2:9], mask[20:30, 10:20], mask[12:16, 30:45] = 1, 3, 4
    brush = mask_to_results(mask, PHASES, polygon_above=10)
    assert {r["type"] for r in brush} == {"brushlabels"} and len(brush) == 3
    polys = mask_to_results(mask, PHASES, polygon_above=2)
    assert {r["type"] for r in polys} == {"polygonlabels"}
    for results in (brush, polys):
        assert np.array_equal(results_to_mask(results, PHASES, 40, 50), mask)
    holed = np.zeros((20, 20), np.uint8)
    holed[2:15, 2:15] = 1
    holed[6:9, 6:9] = 0  # a hole a polygon cannot carry within 0.95 IoU (160 of 169 pixels): its own brush
    assert {r["type"] for r in mask_to_results(holed, binary_schema(), 0)} == {"brushlabels"}


def test_a_grain_its_polygon_cannot_carry_falls_back_alone_and_every_grain_stays_its_own_region():
    mask = np.zeros((60, 60), np.uint8)
    mask[2:10, 2:10], mask[2:10, 20:30], mask[40:55, 40:55] = 1, 1, 1
    mask[45:50, 45:50] = 0  # 25 of 225 pixels: a hole no polygon carries within 0.95
    mask[20:30, 2:12] = 1
    mask[24, 6] = 0  # a one-pixel hole: its polygon is within the tolerance (99 of 100 pixels)
    results = mask_to_results(mask, binary_schema(), 0)
    assert sorted(r["type"] for r in results) == ["brushlabels"] + ["polygonlabels"] * 3
    back = results_to_mask(results, binary_schema(), 60, 60)
    assert np.argwhere(back != mask).tolist() == [[24, 6]]  # the stated tolerance, and nothing else
    exact = mask_to_results(mask, binary_schema(), 0, min_iou=1.0)
    assert sorted(r["type"] for r in exact) == ["brushlabels"] * 2 + ["polygonlabels"] * 2
    assert np.array_equal(results_to_mask(exact, binary_schema(), 60, 60), mask)


def test_touching_grains_of_an_instance_map_are_pushed_as_one_polygon_each():
    mask = np.zeros((30, 40), np.uint8)
    mask[5:20, 5:35] = 1  # one connected blob of the class map ...
    grains = np.zeros((30, 40), np.int32)
    grains[5:20, 5:20], grains[5:20, 20:35] = 1, 2  # ... that the model decoded into two touching grains
    grains[0, 0] = 3  # an id on background is no grain
    assert len(mask_to_results(mask, binary_schema(), 0)) == 1
    results = mask_to_results(mask, binary_schema(), 0, instance_map=grains)
    assert [r["type"] for r in results] == ["polygonlabels"] * 2
    assert np.array_equal(results_to_mask(results, binary_schema(), 30, 40), mask)
    with pytest.raises(ValueError, match="differ in shape"):
        mask_to_results(mask, binary_schema(), 0, instance_map=grains[:10])


def test_instances_in_their_boxes_give_the_whole_image_polygons():
    """Each instance is traced inside its bounding box; the points are those of a whole-image trace."""
    rng = np.random.default_rng(3)
    mask = (rng.random((48, 64)) > 0.8).astype(np.uint8)
    mask[10:30, 20:44] = 1
    mask[15:20, 25:30] = 0  # a hole, filled in the instance
    mask[0:6, 58:64] = 1  # cut by the border
    labels, n = label(mask == 1)
    parts = instances(mask, binary_schema())
    assert len(parts) == n and [p.mask.shape for p in parts] == [labels[b].shape for b in boxes(labels, n)]
    for k, part in enumerate(parts, start=1):
        assert part.polygon(min_iou=0) == mask_to_polygon(fill_holes(labels == k))
    solid = fill_holes(mask > 0).astype(np.uint8)  # holes filled: the polygons carry it exactly
    results = mask_to_results(solid, binary_schema(), 0)
    assert {r["type"] for r in results} == {"polygonlabels"}
    assert np.array_equal(results_to_mask(results, binary_schema(), 48, 64), solid)
