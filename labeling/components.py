"""4-connected components and hole filling with numpy alone (runs per row, then union-find over runs)."""
from __future__ import annotations

import numpy as np


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, start and stop (exclusive) of every horizontal run of True pixels."""
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    diff = np.diff(padded, axis=1)
    rows, starts = np.nonzero(diff == 1)
    _, stops = np.nonzero(diff == -1)
    return rows, starts, stops


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _link_rows(parent: list[int], rows, starts, stops) -> None:
    """Union runs of consecutive rows whose columns overlap (4-connectivity)."""
    row_begin = np.searchsorted(rows, np.arange(rows.max() + 2 if rows.size else 1))
    for r in range(1, len(row_begin) - 1):
        a, b = range(row_begin[r - 1], row_begin[r]), range(row_begin[r], row_begin[r + 1])
        i, j = a.start, b.start
        while i < a.stop and j < b.stop:
            if starts[i] < stops[j] and starts[j] < stops[i]:
                parent[_find(parent, i)] = _find(parent, j)
            if stops[i] < stops[j]:
                i += 1
            else:
                j += 1


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 4-connected components of a boolean mask 1..n (row-major order of first pixel)."""
    rows, starts, stops = _runs(mask)
    parent = list(range(len(rows)))
    _link_rows(parent, rows, starts, stops)
    roots = np.array([_find(parent, i) for i in range(len(rows))], dtype=np.int64)
    _, ids = np.unique(roots, return_inverse=True) if len(roots) else (None, roots)
    first = {}
    for i, k in enumerate(ids):
        first.setdefault(int(k), len(first) + 1)
    out = np.zeros(mask.shape, dtype=np.int32)
    for i, (r, s, e) in enumerate(zip(rows, starts, stops)):
        out[r, s:e] = first[int(ids[i])]
    return out, len(first)


def boxes(labels: np.ndarray, n: int) -> list[tuple[slice, slice]]:
    """The bounding box (row slice, column slice) of each label 1..n of a label image."""
    ys, xs = np.nonzero(labels)
    ids = labels[ys, xs] - 1
    lo_y, lo_x = np.full(n, labels.shape[0]), np.full(n, labels.shape[1])
    hi_y, hi_x = np.zeros(n, np.int64), np.zeros(n, np.int64)
    np.minimum.at(lo_y, ids, ys), np.minimum.at(lo_x, ids, xs)
    np.maximum.at(hi_y, ids, ys + 1), np.maximum.at(hi_x, ids, xs + 1)
    return [(slice(int(a), int(b)), slice(int(c), int(d))) for a, b, c, d in zip(lo_y, hi_y, lo_x, hi_x)]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every background region that does not touch the border filled."""
    background, n = label(~np.pad(mask.astype(bool), 1))
    outside = background[0, 0]
    return (background != outside)[1:-1, 1:-1] if n else mask.astype(bool)
