"""Training targets from masks and a label schema: class maps, an optional boundary class, ignored pixels."""
from __future__ import annotations

import numpy as np
from skimage.measure import label as connected_components
from skimage.segmentation import find_boundaries

from foundation.schema import LabelSchema
from ml.box import Box

IGNORE_INDEX = 255


class MaskValueError(ValueError):
    """A mask holds values the label schema does not define."""


def check_mask_values(class_map: np.ndarray, schema: LabelSchema, name: str = "mask") -> None:
    """Raise MaskValueError naming the unknown values and the schema's classes."""
    values = np.unique(class_map)
    bad = values[(values < 0) | (values >= len(schema.class_names))]
    if bad.size:
        valid = ", ".join(f"{i}={n}" for i, n in enumerate(schema.class_names))
        raise MaskValueError(f"{name} has values {bad.tolist()} outside schema {schema.name!r} ({valid})")


def boundary_pixels(instances: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels of each instance that touch another instance or the background, ``width`` px thick."""
    edge = find_boundaries(instances, mode="inner") & (instances > 0)
    for _ in range(width - 1):
        edge |= find_boundaries(np.where(edge, 0, instances), mode="inner") & (instances > 0)
    return edge


def make_target(
    class_map: np.ndarray,
    schema: LabelSchema,
    instances: np.ndarray | None = None,
    banner: Box | None = None,
    boundary_width: int = 1,
) -> np.ndarray:
    """uint8 target: schema class values, the boundary class if the schema has one, IGNORE_INDEX in the banner."""
    check_mask_values(class_map, schema)
    target = class_map.astype(np.uint8, copy=True)
    if schema.boundary:
        if instances is None:  # no instance map: connected components (cannot split touching grains)
            instances = connected_components(class_map > 0, connectivity=1)
        target[boundary_pixels(instances, boundary_width)] = schema.num_outputs - 1
    if banner is not None:
        target[banner.slices] = IGNORE_INDEX
    return target


def class_map_from_prediction(pred: np.ndarray, schema: LabelSchema) -> np.ndarray:
    """Fold the boundary class back into grain (class 1) so predictions compare with class maps."""
    if not schema.boundary:
        return pred
    out = pred.copy()
    out[pred == schema.num_outputs - 1] = 1
    return out
