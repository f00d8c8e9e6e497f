"""Per-grain measures (scikit-image regionprops where it measures well), in pixels and, when known, micrometres.

Definitions (lengths in px; ``_um`` columns multiply by the pixel size, areas by its square):

- ``area_px``: pixel count; ``ecd_px``: equivalent circular diameter sqrt(4 area / pi);
- ``perimeter_px``: Crofton perimeter (regionprops ``perimeter_crofton``; within 1% of 2 pi r for discs of
  radius >= 10 px, where the 4-neighbour perimeter is 2-4% off);
- ``feret_max_px``, ``feret_min_px``: largest and smallest caliper width of the convex hull of the outline
  through the pixel edges (regionprops' ``feret_diameter_max`` measures a hull through pixel corners and reads
  1.5 px long on discs of radius 15 to 40 px; this one is within 0.9 px and pairs with the minimum);
- ``major_axis_px``, ``minor_axis_px``: of the ellipse with the same second moments; ``aspect_ratio`` major/minor;
- ``circularity`` 4 pi area / perimeter^2 (1 for a disc); ``solidity`` area / convex area;
  ``roundness`` 4 area / (pi major^2) (ImageJ's definition);
- ``orientation_deg``: angle of the major axis from the image x axis, counter-clockwise as displayed, [0, 180);
- ``mean_ch{i}``: mean intensity of input channel i over the grain (detector channels, co-registered maps);
- ``bbox_height_px``, ``bbox_width_px``: the grain's bounding box (rows, columns; the edge correction's input);
- ``class_id``, ``class_name``; ``cut_by_edge``: touches the image border or the banner (size is a lower bound).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist
from skimage.measure import approximate_polygon, find_contours, regionprops

from foundation.instrument import PixelSize
from ml.instances import Instances, edge_cut
from ml.box import Box

LENGTHS = ("ecd", "perimeter", "feret_max", "feret_min", "major_axis", "minor_axis")
COLUMNS = ["grain", "class_id", "class_name", "centroid_x_px", "centroid_y_px", "area_px",
           *(f"{n}_px" for n in LENGTHS), "aspect_ratio", "circularity", "solidity", "roundness", "orientation_deg",
           "bbox_height_px", "bbox_width_px"]


@dataclass(frozen=True)
class GrainImage:
    """What is measured on one image: its grains, optional (C, H, W) intensities, pixel size and banner."""

    name: str
    instances: Instances
    pixel_size: PixelSize
    intensities: np.ndarray | None = None
    banner: Box | None = None
    class_names: Sequence[str] = ("background", "grain")


def _outline(mask: np.ndarray) -> np.ndarray:
    """(N, 2) row, col points of the outer outline at the pixel edges (level 0.5 of the padded mask)."""
    contours = find_contours(np.pad(mask, 1).astype(np.float32), 0.5)
    return max(contours, key=len) - 1 if contours else np.zeros((0, 2))


def _hull(points: np.ndarray) -> np.ndarray:
    try:
        return points[ConvexHull(points).vertices]
    except (QhullError, ValueError):  # fewer than 3 points or all on one line
        return points


def feret_diameters(mask: np.ndarray) -> tuple[float, float]:
    """Largest and smallest caliper width of the convex outline: the largest point-to-point distance, and over
    hull edges the smallest of the largest distances to the edge (the minimum always lies on an edge)."""
    hull = _hull(_outline(mask))
    if len(hull) < 3:
        return (float(np.ptp(hull, axis=0).max()), float(np.ptp(hull, axis=0).min())) if len(hull) else (0.0, 0.0)
    edges = np.roll(hull, -1, axis=0) - hull
    normals = np.stack([-edges[:, 1], edges[:, 0]], 1) / np.linalg.norm(edges, axis=1, keepdims=True)
    widths = np.abs((hull[None, :, :] - hull[:, None, :]) @ normals[:, :, None]).squeeze(-1).max(1)
    return float(pdist(hull).max()), float(widths.min())


def _row(p, cls: int, names: Sequence[str]) -> dict:
    major, minor = p.axis_major_length, p.axis_minor_length
    perimeter, (feret_max, feret_min) = p.perimeter_crofton, feret_diameters(p.image)
    return {
        "grain": p.label, "class_id": cls, "class_name": names[cls] if cls < len(names) else str(cls),
        "centroid_x_px": p.centroid[1], "centroid_y_px": p.centroid[0], "area_px": int(p.area),
        "ecd_px": p.equivalent_diameter_area, "perimeter_px": perimeter, "feret_max_px": feret_max,
        "feret_min_px": feret_min, "major_axis_px": major, "minor_axis_px": minor,
        "aspect_ratio": major / minor if minor > 0 else np.inf,
        "circularity": 4 * np.pi * p.area / perimeter**2 if perimeter > 0 else np.nan,
        "solidity": p.solidity, "roundness": 4 * p.area / (np.pi * major**2) if major > 0 else np.nan,
        "orientation_deg": (np.rad2deg(p.orientation) + 90.0) % 180.0,
        "bbox_height_px": p.bbox[2] - p.bbox[0], "bbox_width_px": p.bbox[3] - p.bbox[1],
    }


def _channel_means(labels: np.ndarray, intensities: np.ndarray, n: int) -> dict[str, np.ndarray]:
    area = np.maximum(np.bincount(labels.ravel(), minlength=n + 1), 1)
    return {f"mean_ch{c}": np.bincount(labels.ravel(), ch.ravel().astype(np.float64), n + 1)[1:] / area[1:]
            for c, ch in enumerate(intensities)}


def _physical(table: pd.DataFrame, px: PixelSize) -> pd.DataFrame:
    if not px.known:
        return table
    for name in LENGTHS:
        table[f"{name}_um"] = table[f"{name}_px"] * px.value_um
    table["area_um2"] = table["area_px"] * px.value_um**2
    return table


def measure(item: GrainImage) -> pd.DataFrame:
    """One row per kept grain of one image, every column documented in this module."""
    labels, classes = item.instances.labels, item.instances.classes
    rows = [_row(p, int(classes[p.label]), item.class_names) for p in regionprops(labels)]
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.insert(0, "image", item.name)
    ids = table["grain"].to_numpy(np.int64)
    table["cut_by_edge"] = edge_cut(labels, item.banner)[ids]
    if item.intensities is not None:
        for key, values in _channel_means(labels, item.intensities, item.instances.count).items():
            table[key] = values[ids - 1]
    table["pixel_size_um"] = item.pixel_size.value_um
    return _physical(table, item.pixel_size)


def dropped_rows(item: GrainImage) -> list[dict]:
    """The grains of one image that were not measured, each with its reason."""
    return [{"image": item.name, "grain_before_drop": d.grain, "area_px": d.area_px, "reason": d.reason}
            for d in item.instances.dropped]


def _ring(points_rc: np.ndarray, scale: float = 1.0) -> list[list[float]]:
    ring = [[round(float(c) * scale, 4), round(float(r) * scale, 4)] for r, c in points_rc]
    return ring + ring[:1] if ring and ring[0] != ring[-1] else ring


def outlines(item: GrainImage, tolerance: float = 0.5) -> list[dict]:
    """GeoJSON features, one polygon per grain in pixel coordinates (x = column, y = row, pixel centres at
    integers); ``properties.polygon_um`` holds the same ring in micrometres when the pixel size is known."""
    features = []
    for p in regionprops(item.instances.labels):
        (r0, c0, _, _), outline = p.bbox, approximate_polygon(_outline(p.image), tolerance)
        rc = outline + [r0, c0]
        props = {"image": item.name, "grain": int(p.label), "class_id": int(item.instances.classes[p.label])}
        if item.pixel_size.known:
            props["polygon_um"] = [_ring(rc, item.pixel_size.value_um)]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_ring(rc)]},
                         "properties": props})
    return features
