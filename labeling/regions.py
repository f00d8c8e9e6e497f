"""Annotation and prediction results <-> class masks, for one task image.

Mask values follow the schema: 0 background, class k (1..K) in schema order. Results are decoded in order,
so a later region paints over an earlier one. Any region that cannot become pixels raises BadRegion with the
reason, which the pull quarantines.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from skimage import measure

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


def _regions(results: list) -> list[dict]:
    """The results that carry pixels (brush and polygon regions), in order; BadRegion if there are none."""
    if not results:
        raise BadRegion("empty result (nothing labelled)")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise BadRegion("a result is not a list of objects")
    regions = [r for r in results if isinstance(r.get("type"), str) and r["type"] in KINDS]
    if not regions:  # other controls (text, choices) carry no pixels
        raise BadRegion(f"no labelled region (result types {sorted({str(r.get('type')) for r in results})})"[:300])
    return regions


def results_to_mask(results: list, schema: LabelSchema, height: int, width: int) -> np.ndarray:
    """The class mask of one annotation's (or prediction's) result list; BadRegion if anything is wrong."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for result in _regions(results):
        value = region_value(result, schema)
        box, pixels = region_pixels(result, height, width)
        mask[box][pixels] = value
    return mask


def results_to_instances(results: list, schema: LabelSchema, height: int, width: int) -> np.ndarray:
    """The instance map (ids 1..N, 0 background) of one annotation's result list: each region is its own grain,
    painted in order like ``results_to_mask`` (a region labelled background erases), and each region's separate
    4-connected pieces are grains of their own, so one brush stroke over several apart grains still gives one id
    each. Touching grains drawn as separate regions stay apart: what a class map cannot hold."""
    ids = np.zeros((height, width), dtype=np.int32)
    for k, result in enumerate(_regions(results), start=1):
        box, pixels = region_pixels(result, height, width)
        ids[box][pixels] = k if region_value(result, schema) else 0
    pieces = measure.label(ids, background=0, connectivity=1)  # equal-valued connected pixels: one piece each
    return pieces.astype(np.int32, copy=False)


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


POLYGON_MIN_IOU = 0.95  # a grain goes as a polygon when its rasterised polygon has at least this IoU with it


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@dataclass(frozen=True)
class Instance:
    """One object of a class (a 4-connected component, or one id of an instance map), cropped to its box."""

    name: str
    mask: np.ndarray  # the crop: the object's own pixels, holes included
    left: int  # the crop's top-left pixel in the image
    top: int
    image_shape: tuple[int, int]

    def polygon(self, min_iou: float = 1.0) -> list[list[float]] | None:
        """Percent points in the image of the outline of the object's largest 4-connected piece, holes filled;
        None if that polygon, rasterised, has an IoU below ``min_iou`` with the object's pixels."""
        labels, n = label(self.mask)
        piece = labels == (1 + int(np.argmax(np.bincount(labels.ravel())[1:]))) if n > 1 else self.mask
        corners = trace_outline(fill_holes(piece))
        drawn = polygon_to_mask(percent_points(corners, self.mask.shape), *self.mask.shape)
        if _iou(drawn, self.mask) < min_iou - 1e-9:
            return None
        return percent_points(corners + (self.left, self.top), self.image_shape)

    def brush(self) -> dict:
        """The object alone as a brush region of the whole image."""
        height, width = self.image_shape
        whole = np.zeros(self.image_shape, dtype=bool)
        whole[self.top:self.top + self.mask.shape[0], self.left:self.left + self.mask.shape[1]] = self.mask
        return _result(BRUSH, self.name, {"format": "rle", "rle": mask_to_rle(whole)}, height, width)


def instances(mask: np.ndarray, schema: LabelSchema, instance_map: np.ndarray | None = None) -> list[Instance]:
    """Every object of the mask: the ids of ``instance_map`` (a model's grains; each takes its pixels' most common
    class, ids on background are left out), else each class's 4-connected components. Each one is worked on
    inside its bounding box (a mask of many small grains would otherwise cost a whole-image pass per grain)."""
    if instance_map is not None:
        return _from_instance_map(mask, schema, instance_map)
    found = []
    for value, name in enumerate(schema.class_names):
        if value == 0:
            continue
        labels, n = label(mask == value)
        for k, (rows, cols) in enumerate(boxes(labels, n), start=1):
            found.append(Instance(name, labels[rows, cols] == k, cols.start, rows.start, mask.shape))
    return found


def _from_instance_map(mask: np.ndarray, schema: LabelSchema, instance_map: np.ndarray) -> list[Instance]:
    if instance_map.shape != mask.shape:
        raise ValueError(f"instance map {instance_map.shape} and mask {mask.shape} differ in shape")
    ids = np.asarray(instance_map, dtype=np.int32)
    found = []
    for k, (rows, cols) in enumerate(boxes(ids, int(ids.max(initial=0))), start=1):
        own, crop = ids[rows, cols] == k, mask[rows, cols]
        value = int(np.bincount(crop[own]).argmax()) if own.any() else 0
        if value:  # the grain's pixels of its class: the map and the mask need not agree everywhere
            found.append(Instance(schema.class_names[value], own & (crop == value), cols.start, rows.start, mask.shape))
    return found


def region_results(parts: list[Instance], min_iou: float = POLYGON_MIN_IOU) -> list[dict]:
    """One region per object: its polygon when that is within ``min_iou`` of its pixels, else its own brush."""
    results = []
    for inst in parts:
        points = inst.polygon(min_iou)
        results.append(inst.brush() if points is None else
                       _result(POLYGON, inst.name, {"points": points, "closed": True}, *inst.image_shape))
    return results


def mask_to_results(mask: np.ndarray, schema: LabelSchema, polygon_above: int, instance_map: np.ndarray | None = None,
                    min_iou: float = POLYGON_MIN_IOU) -> list[dict]:
    """Brush RLE per class, or one region per object (see ``instances``) when the mask holds more than
    ``polygon_above`` objects: a polygon each, or a brush of its own for an object whose polygon would not carry
    it within ``min_iou`` (a large hole, a ragged piece)."""
    parts = instances(mask, schema, instance_map) if polygon_above >= 0 else []
    if len(parts) > polygon_above >= 0:
        return region_results(parts, min_iou)
    return brush_results(mask, schema)
