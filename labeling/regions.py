"""Annotation and prediction results <-> class masks, for one task image.

Mask values follow the schema: 0 background, class k (1..K) in schema order. Results are decoded in order,
so a later region paints over an earlier one. Any region that cannot become pixels raises BadRegion with the
reason, which the pull quarantines.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from foundation.schema import LabelSchema
from labeling.components import boxes, fill_holes, label
from labeling.config import BRUSH, IMAGE, POLYGON, RESULT_TYPES
from labeling.masks import (WHOLE, BadRegion, Box, mask_to_rle, percent_points, polygon_box, polygon_to_mask,
                            rle_to_mask, trace_outline)

KINDS = {RESULT_TYPES[BRUSH]: "brushlabels", RESULT_TYPES[POLYGON]: "polygonlabels"}


def _value(result: dict) -> dict:
    value = result.get("value")
    if not isinstance(value, dict):
        raise BadRegion(f"a region's value is not an object ({type(value).__name__})")
    return value


def region_pixels(result: dict, height: int, width: int) -> tuple[Box, np.ndarray]:
    """(box, the box's pixels) of one region: a polygon's bounding box, or the whole image for a brush."""
    kind, value = result.get("type"), _value(result)
    if kind == RESULT_TYPES[BRUSH]:
        if value.get("format", "rle") != "rle" or "rle" not in value:
            raise BadRegion("brush region without RLE")
        return WHOLE, rle_to_mask(value["rle"], height, width)
    if kind == RESULT_TYPES[POLYGON]:
        return polygon_box(value.get("points"), height, width)
    raise BadRegion(f"unsupported region type {kind!r}")


def region_value(result: dict, schema: LabelSchema) -> int:
    labels = _value(result).get(KINDS.get(result.get("type"), ""), [])
    if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
        raise BadRegion(f"a region needs exactly one label, got {labels!r}"[:300])
    try:
        return schema.value_of(labels[0])
    except KeyError:
        raise BadRegion(f"unknown label {labels[0]!r} (schema {schema.name!r} has "
                        f"{', '.join(schema.class_names[1:])})") from None


def results_to_mask(results: list, schema: LabelSchema, height: int, width: int) -> np.ndarray:
    """The class mask of one annotation's (or prediction's) result list; BadRegion if anything is wrong."""
    if not results:
        raise BadRegion("empty result (nothing labelled)")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise BadRegion("a result is not a list of objects")
    regions = [r for r in results if isinstance(r.get("type"), str) and r["type"] in KINDS]
    if not regions:  # other controls (text, choices) carry no pixels
        raise BadRegion(f"no labelled region (result types {sorted({str(r.get('type')) for r in results})})"[:300])
    mask = np.zeros((height, width), dtype=np.uint8)
    for result in regions:
        value = region_value(result, schema)
        box, pixels = region_pixels(result, height, width)
        mask[box][pixels] = value
    return mask


def _result(tool: str, name: str, value: dict, height: int, width: int) -> dict:
    kind = RESULT_TYPES[tool]
    return {"id": uuid.uuid4().hex[:10], "from_name": tool, "to_name": IMAGE, "type": kind,
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {**value, KINDS[kind]: [name]}}


def brush_results(mask: np.ndarray, schema: LabelSchema) -> list[dict]:
    """One brush region per class present in the mask."""
    height, width = mask.shape
    return [_result(BRUSH, name, {"format": "rle", "rle": mask_to_rle(mask == value)}, height, width)
            for value, name in enumerate(schema.class_names) if value and (mask == value).any()]


@dataclass(frozen=True)
class Instance:
    """One hole-filled, 4-connected object of a class, cropped to its bounding box."""

    name: str
    mask: np.ndarray  # the crop
    left: int  # the crop's top-left pixel in the image
    top: int
    image_shape: tuple[int, int]

    def polygon(self) -> list[list[float]] | None:
        """Percent points in the image, or None if the polygon would not give back the instance's pixels."""
        corners = trace_outline(self.mask)
        if not np.array_equal(polygon_to_mask(percent_points(corners, self.mask.shape), *self.mask.shape), self.mask):
            return None
        return percent_points(corners + (self.left, self.top), self.image_shape)


def instances(mask: np.ndarray, schema: LabelSchema) -> list[Instance]:
    """Every class's instances; each one is worked on inside its bounding box (a mask of many small grains
    would otherwise cost a whole-image pass per grain)."""
    found = []
    for value, name in enumerate(schema.class_names):
        if value == 0:
            continue
        labels, n = label(mask == value)
        for k, (rows, cols) in enumerate(boxes(labels, n), start=1):
            found.append(Instance(name, fill_holes(labels[rows, cols] == k), cols.start, rows.start, mask.shape))
    return found


def polygon_results(parts: list[Instance]) -> list[dict] | None:
    """One polygon per instance, or None if some instance's polygon would not give back its pixels exactly."""
    results = []
    for inst in parts:
        points = inst.polygon()
        if points is None:
            return None
        results.append(_result(POLYGON, inst.name, {"points": points, "closed": True}, *inst.image_shape))
    return results


def mask_to_results(mask: np.ndarray, schema: LabelSchema, polygon_above: int) -> list[dict]:
    """Brush RLE per class, or one polygon per instance when the mask holds more than ``polygon_above``
    objects (falling back to brush if an instance has holes a polygon cannot carry)."""
    parts = instances(mask, schema) if polygon_above >= 0 else []
    if len(parts) > polygon_above >= 0:
        as_polygons = polygon_results(parts)
        if as_polygons is not None and _same(as_polygons, mask, schema):
            return as_polygons
    return brush_results(mask, schema)


def _same(results: list[dict], mask: np.ndarray, schema: LabelSchema) -> bool:
    return np.array_equal(results_to_mask(results, schema, *mask.shape), mask)
