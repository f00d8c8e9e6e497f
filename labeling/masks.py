"""Label Studio regions <-> class masks, exactly.

Brush regions use Label Studio's own RLE (``label_studio_sdk.converter.brush``): RGBA pixels, channel 3 is the
mask. Polygons are lists of [x, y] points in percent of the image's width and height; a pixel belongs to a
polygon when its centre lies inside (even-odd rule). Polygons made here have their vertices on pixel corners, so
polygon -> mask -> polygon is exact for hole-free instances.
"""
from __future__ import annotations

import numpy as np
from label_studio_sdk.converter.brush import decode_rle, mask2rle


class BadRegion(ValueError):
    """A region that cannot become a mask: the reason is the message."""


MAX_PIXELS = 1 << 28  # an image size from task data or a result beyond this is refused, not allocated


def image_dims(height, width, what: str = "image size") -> tuple[int, int]:
    """(height, width) as positive ints from untrusted data (ints, integral floats or digit strings)."""
    def whole(v) -> int | None:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    h, w = whole(height), whole(width)
    if h is None or w is None or h < 1 or w < 1 or h * w > MAX_PIXELS:
        raise BadRegion(f"{what} is not a usable image size: {height!r} x {width!r}"[:300])
    return h, w


def mask_to_rle(mask: np.ndarray) -> list[int]:
    """RLE of a 2-D boolean (or 0/non-0) mask, as Label Studio stores brush strokes."""
    if mask.ndim != 2:
        raise ValueError(f"a brush mask must be 2-D, got shape {mask.shape}")
    return mask2rle(np.where(mask > 0, 255, 0).astype(np.uint8))


def rle_to_mask(rle: list[int], height: int, width: int) -> np.ndarray:
    """The boolean mask of a brush RLE; BadRegion if it does not decode to height x width pixels."""
    try:
        data = np.asarray(rle) if isinstance(rle, list) else None
    except (ValueError, TypeError):  # ragged lists
        data = None
    if data is None or data.ndim != 1 or data.size < 4 or data.dtype.kind not in "iu" \
            or data.min() < 0 or data.max() > 255:
        raise BadRegion(f"brush RLE is not a list of bytes ({type(rle).__name__})")
    declared = int.from_bytes(bytes(data[:4].tolist()), "big")  # the RLE's own count of values, read first
    if declared != height * width * 4:
        raise BadRegion(f"brush RLE holds {declared // 4} pixels, the image has {height}x{width} = {height * width}")
    try:
        flat = decode_rle(rle)
    except Exception as e:  # the SDK decoder raises bare errors on truncated input
        raise BadRegion(f"brush RLE does not decode ({type(e).__name__}: {e})") from None
    if flat.size != height * width * 4:
        raise BadRegion(f"brush RLE holds {flat.size // 4} pixels, the image has {height}x{width} = {height * width}")
    return flat.reshape(height, width, 4)[:, :, 3] > 0


def points_to_pixels(points: list, height: int, width: int, tolerance: float = 1e-6) -> np.ndarray:
    """Percent points -> pixel-corner coordinates; BadRegion if malformed or outside the image."""
    try:
        pts = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadRegion("polygon points are not numbers") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise BadRegion(f"a polygon needs at least 3 [x, y] points, got shape {pts.shape}")
    if not np.isfinite(pts).all() or pts.min() < -tolerance or pts.max() > 100 + tolerance:
        raise BadRegion("polygon outside the image (points beyond 0..100 %)")
    return pts * np.array([width, height]) / 100.0


Box = tuple[slice, slice]  # rows, columns of an image
WHOLE: Box = (slice(None), slice(None))


def polygon_box(points: list, height: int, width: int) -> tuple[Box, np.ndarray]:
    """Rasterise a percent polygon inside its bounding box: the box, and its pixels whose centres lie inside
    (even-odd rule). Crossings are computed in image coordinates, so the pixels are those of polygon_to_mask."""
    xy = points_to_pixels(points, height, width)
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    top, bottom = max(int(np.floor(y0.min())), 0), min(int(np.ceil(y0.max())), height)
    left, right = max(int(np.floor(x0.min())), 0), min(int(np.ceil(x0.max())), width)
    crop = np.zeros((max(bottom - top, 0), max(right - left, 0)), dtype=bool)
    for r in range(crop.shape[0]):
        _fill_row(crop[r], top + r + 0.5, x0, y0, x1, y1, left)
    return (slice(top, top + crop.shape[0]), slice(left, left + crop.shape[1])), crop


def polygon_to_mask(points: list, height: int, width: int) -> np.ndarray:
    """Rasterise a percent polygon: pixels whose centres lie inside (even-odd rule)."""
    box, crop = polygon_box(points, height, width)
    mask = np.zeros((height, width), dtype=bool)
    mask[box] = crop
    return mask


def _fill_row(row: np.ndarray, cy: float, x0, y0, x1, y1, left: int = 0) -> None:
    """Fill the pixels of ``row`` (image columns from ``left``) whose centres lie inside at height cy."""
    crossing = (y0 <= cy) != (y1 <= cy)
    if not crossing.any():
        return
    xs = np.sort(x0[crossing] + (cy - y0[crossing]) * (x1[crossing] - x0[crossing]) / (y1[crossing] - y0[crossing]))
    for a, b in zip(xs[0::2], xs[1::2]):
        start, stop = max(int(np.ceil(a - 0.5)) - left, 0), min(int(np.ceil(b - 0.5)) - left, row.size)
        row[start:stop] = True


def trace_outline(mask: np.ndarray) -> np.ndarray:
    """The outer boundary of one 4-connected, hole-free instance as pixel-corner vertices (x, y), clockwise.

    Boundary edges are directed with the instance on their right; at a pinch corner the walk turns right,
    which keeps the outline simple. Collinear vertices are dropped.
    """
    edges = _boundary_edges(mask)
    if not edges:
        raise ValueError("empty mask has no outline")
    start = min(edges)
    loop, point = [start], edges[start][0]
    while point != start:
        loop.append(point)
        point = _next_point(edges, loop[-2], point)
    return _drop_collinear(np.array(loop, dtype=np.int64))


def _boundary_edges(mask: np.ndarray) -> dict[tuple[int, int], list[tuple[int, int]]]:
    m = np.pad(mask.astype(bool), 1)
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    # (shift of the neighbour, edge start offset, edge end offset) for top, right, bottom, left sides
    sides = [((-1, 0), (0, 0), (1, 0)), ((0, 1), (1, 0), (1, 1)), ((1, 0), (1, 1), (0, 1)), ((0, -1), (0, 1), (0, 0))]
    for (dy, dx), (sx, sy), (ex, ey) in sides:
        neighbour = np.roll(m, (-dy, -dx), axis=(0, 1))
        for y, x in zip(*np.nonzero(m & ~neighbour)):
            edges.setdefault((x - 1 + sx, y - 1 + sy), []).append((x - 1 + ex, y - 1 + ey))
    return edges


def _next_point(edges, prev: tuple[int, int], point: tuple[int, int]) -> tuple[int, int]:
    outs = edges[point]
    if len(outs) == 1:
        return outs.pop()
    d = (point[0] - prev[0], point[1] - prev[1])
    right = (-d[1], d[0])  # image coordinates (y down): a clockwise turn
    choice = next((o for o in outs if (o[0] - point[0], o[1] - point[1]) == right), outs[0])
    outs.remove(choice)
    return choice


def _drop_collinear(loop: np.ndarray) -> np.ndarray:
    prev, nxt = np.roll(loop, 1, axis=0), np.roll(loop, -1, axis=0)
    cross = (loop[:, 0] - prev[:, 0]) * (nxt[:, 1] - loop[:, 1]) - (loop[:, 1] - prev[:, 1]) * (nxt[:, 0] - loop[:, 0])
    return loop[cross != 0]


def percent_points(xy: np.ndarray, shape: tuple[int, int]) -> list[list[float]]:
    """Pixel-corner vertices (x, y) as percent points of an image of ``shape`` (height, width)."""
    height, width = shape
    return (np.asarray(xy, dtype=np.float64) * 100.0 / np.array([width, height])).tolist()


def mask_to_polygon(mask: np.ndarray) -> list[list[float]]:
    """Percent points of the outline of one instance (see trace_outline)."""
    return percent_points(trace_outline(mask), mask.shape)
