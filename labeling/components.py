"""4-connected components, their bounding boxes and hole filling, with scipy.ndimage."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 4-connected components of a boolean mask 1..n (row-major order of first pixel)."""
    labels, n = ndimage.label(np.asarray(mask, dtype=bool))
    return labels.astype(np.int32, copy=False), int(n)


def boxes(labels: np.ndarray, n: int) -> list[tuple[slice, slice]]:
    """The bounding box (row slice, column slice) of each label 1..n of a label image."""
    empty = (slice(labels.shape[0], 0), slice(labels.shape[1], 0))  # a label 1..n that is not in the image
    found = ndimage.find_objects(labels, max_label=n) if n else []
    return [(box[0], box[1]) if box is not None else empty for box in found]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every background region that does not touch the border (4-connected) filled."""
    return ndimage.binary_fill_holes(np.asarray(mask, dtype=bool))
