"""COCO instance annotations from class and instance maps, and back, exactly.

Polygons follow COCO's convention (x, y in pixel-corner coordinates, a pixel's centre at +0.5). Outlines run
through the midpoints between pixel centres, so filling a polygon by pixel centres gives the mask back pixel for
pixel. A grain with a hole cannot be one COCO polygon; it is written as uncompressed RLE instead.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.ndimage import binary_fill_holes, find_objects
from skimage.draw import polygon2mask
from skimage.measure import find_contours

from foundation.schema import LabelClass, LabelSchema
from ml.instances import InstanceConfig, class_votes, instances_from_class_map

_COMPONENTS = InstanceConfig(method="components", min_area=0)  # every connected part of a class, none dropped


def _drop_collinear(points: np.ndarray) -> np.ndarray:
    prev, nxt = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    cross = (points[:, 0] - prev[:, 0]) * (nxt[:, 1] - prev[:, 1]) - (points[:, 1] - prev[:, 1]) * (nxt[:, 0] - prev[:, 0])
    return points[np.abs(cross) > 1e-9]


def polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons [x1, y1, x2, y2, ...] of a hole-free binary mask (one per 4-connected part)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    out = []
    for contour in find_contours(padded, 0.5, fully_connected="low"):
        pts = _drop_collinear(contour[:-1]) - 1 + 0.5  # (row, col) back to the image, then to corner coordinates
        out.append([round(float(v), 2) for rc in pts for v in (rc[1], rc[0])])
    return out


def encode_rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE (column-major runs, starting with background)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def decode_rle(rle: dict) -> np.ndarray:
    h, w = rle["size"]
    values = np.arange(len(rle["counts"])) % 2
    flat = np.repeat(values, rle["counts"]).astype(bool)
    return flat.reshape((h, w), order="F")


def segmentation(crop: np.ndarray, sl: tuple[slice, slice], shape: tuple[int, int]):
    """Polygons of a grain cropped to its box ``sl`` when it has no hole, else RLE over the whole image."""
    if np.array_equal(binary_fill_holes(crop), crop):
        x, y = sl[1].start, sl[0].start
        return [[v + (x if i % 2 == 0 else y) for i, v in enumerate(poly)] for poly in polygons(crop)]
    full = np.zeros(shape, dtype=bool)
    full[sl] = crop
    return encode_rle(full)


def annotation_mask(seg, shape: tuple[int, int]) -> np.ndarray:
    """The binary mask of a COCO segmentation (polygons filled by pixel centres, or RLE)."""
    if isinstance(seg, dict):
        return decode_rle(seg)
    out = np.zeros(shape, dtype=bool)
    for poly in seg:
        rc = np.asarray(poly, dtype=float).reshape(-1, 2)[:, ::-1] - 0.5
        out |= polygon2mask(shape, rc)
    return out


def _components_schema(class_map: np.ndarray) -> LabelSchema:
    """A schema without boundary class whose classes cover every value of the class map."""
    top = max(int(class_map.max(initial=0)), 1)
    return LabelSchema("components", tuple(LabelClass(str(v)) for v in range(1, top + 1)))


def instances_of(class_map: np.ndarray, instances: Optional[np.ndarray],
                 schema: Optional[LabelSchema] = None) -> tuple[np.ndarray, dict[int, int]]:
    """An instance map and each instance's class (majority, background votes included): the given instances,
    else the connected parts of each class of ``schema`` (default: every value of the class map)."""
    if instances is None:
        found = instances_from_class_map(class_map, schema or _components_schema(class_map), _COMPONENTS)
        return found.labels, {k: int(c) for k, c in enumerate(found.classes.tolist()) if k > 0}
    votes = class_votes(instances, class_map)
    ids = np.flatnonzero(votes.any(1))
    return instances, {int(k): int(c) for k, c in zip(ids, votes[ids].argmax(1)) if k > 0}


def image_annotations(class_map: np.ndarray, instances: Optional[np.ndarray], image_id: int, first_id: int,
                      schema: Optional[LabelSchema] = None) -> list[dict]:
    """COCO annotations of one image; grains of class 0 (instances over background) are skipped."""
    inst, classes = instances_of(class_map, instances, schema)
    anns = []
    for k, sl in enumerate(find_objects(inst), start=1):
        if sl is None or classes.get(k, 0) == 0:
            continue
        crop = inst[sl] == k
        y, x = sl[0].start, sl[1].start
        anns.append({"id": first_id + len(anns), "image_id": image_id, "category_id": classes[k], "iscrowd": 0,
                     "area": int(crop.sum()), "bbox": [x, y, sl[1].stop - x, sl[0].stop - y],
                     "segmentation": segmentation(crop, sl, inst.shape)})
    return anns


def masks_from_annotations(anns: list[dict], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Class map and instance map (1..n in annotation order) of one image's annotations."""
    class_map, inst = np.zeros(shape, np.uint8), np.zeros(shape, np.int32)
    for i, ann in enumerate(anns, start=1):
        m = annotation_mask(ann["segmentation"], shape)
        class_map[m], inst[m] = ann["category_id"], i
    return class_map, inst
