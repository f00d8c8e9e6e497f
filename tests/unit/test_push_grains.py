"""Pre-annotations carry the model's grains: a model that separates touching grains gives each its own region,
tiles included, and a grain its polygon would miss goes as a brush of its own (labeling/push.py)."""
import numpy as np

from foundation.schema import binary_schema
from labeling.projects import ProjectRef
from labeling.push import PushConfig, image_predictions, payload
from labeling.regions import results_to_mask


def _touching() -> tuple[np.ndarray, np.ndarray]:
    mask, grains = np.zeros((40, 60), np.uint8), np.zeros((40, 60), np.int32)
    mask[10:30, 5:55] = 1
    grains[10:30, 5:30], grains[10:30, 30:55] = 1, 2
    return mask, grains


def test_touching_grains_become_one_region_each_on_the_image_and_on_its_tiles():
    mask, grains = _touching()
    project = ProjectRef(1, "p", binary_schema(boundary=True))
    tasks = [{"id": 7, "data": {}},
             {"id": 8, "data": {"tile": {"x": 30, "y": 0, "width": 30, "height": 40}}}]
    bodies = payload(image_predictions(tasks, mask, 0.5, grains), project, PushConfig("m@v1", polygon_above=0))
    whole, tile = (b["result"] for b in bodies)
    assert [r["type"] for r in whole] == ["polygonlabels"] * 2
    assert np.array_equal(results_to_mask(whole, project.schema, 40, 60), mask)
    assert [r["type"] for r in tile] == ["polygonlabels"]  # only the right grain lies in the right tile
    assert np.array_equal(results_to_mask(tile, project.schema, 40, 30), mask[:, 30:])
    without = payload(image_predictions(tasks[:1], mask, 0.5), project, PushConfig("m@v1", polygon_above=0))
    assert len(without[0]["result"]) == 1  # the class map alone: one connected blob


def test_the_polygon_tolerance_is_a_push_setting():
    mask, grains = _touching()
    mask[15:25, 12:22] = 0  # a hole of 100 of the left grain's 500 pixels
    project = ProjectRef(1, "p", binary_schema())
    item = image_predictions([{"id": 7, "data": {}}], mask, 0.5, grains)
    strict = payload(item, project, PushConfig("m@v1", polygon_above=0))[0]["result"]
    loose = payload(item, project, PushConfig("m@v1", polygon_above=0, polygon_min_iou=0.75))[0]["result"]
    assert sorted(r["type"] for r in strict) == ["brushlabels", "polygonlabels"]
    assert [r["type"] for r in loose] == ["polygonlabels"] * 2
