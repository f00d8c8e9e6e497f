"""ASTM E112 average grain size of space-filling grain structures (polished sections, where grains fill the field),
from an instance map: the planimetric (Jeffries) count and the lineal intercept method, each with its grain size
number G.

- Frame: the image without the banner (the rows above or below a banner across the full width, the columns
  beside one across the full height; otherwise the whole image, the banner counted as grain boundary).
- Space filling: grains plus grain boundaries (background pixels within ``boundary_px`` of a grain) must cover
  ``min_fill`` of the frame; otherwise no G, and the reason says so. Without a pixel size, counts and lengths are
  given in pixels and the reason says that G needs physical units.
- Planimetric: N = N_inside + N_intercepted / 2 + N_corners / 4 (E112-13 with a rectangular test figure: grains
  cut by the frame count one half, the grains on its four corners one quarter), N_A = N / A with A the frame area
  in mm^2 at 1x, G = 3.321928 log10(N_A) - 2.954.
- Lineal intercept: ``lines`` evenly spaced horizontal and as many vertical test lines across the frame; along each
  line every run of one grain is an intercept, a run at a line's end a half. N_L = N / L, mean lineal intercept
  l = 1 / N_L (mm), G = -6.643856 log10(l) - 3.288.
Over several images: sums of N and A (and of intercepts and line length), as E112 averages fields. Every grain
counts whatever its class: E112 is meant for single-phase structures.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from ml.box import Box
from ml.instances import edge_mask

PLANIMETRIC = (3.321928, -2.954)  # G = a log10(N_A / mm^2) + b
INTERCEPT = (-6.643856, -3.288)  # G = a log10(l / mm) + b
UM_PER_MM = 1000.0


@dataclass(frozen=True)
class E112Config:
    """When a field counts as space filling, and how many test lines per direction."""

    min_fill: float = 0.9
    boundary_px: float = 3.0
    lines: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.min_fill <= 1 or self.boundary_px < 0 or self.lines < 1:
            raise ValueError(f"E112Config needs 0 < min_fill <= 1, boundary_px >= 0, lines >= 1, got {self}")


def frame_box(shape: tuple[int, int], banner: Box | None) -> Box:
    """The test frame: the image less a banner strip along one side."""
    h, w = shape
    if banner is None:
        return Box(0, h, 0, w)
    across, down = banner.x0 <= 0 and banner.x1 >= w, banner.y0 <= 0 and banner.y1 >= h
    if across and banner.y1 >= h:
        return Box(0, banner.y0, 0, w)
    if across and banner.y0 <= 0:
        return Box(banner.y1, h, 0, w)
    if down and banner.x1 >= w:
        return Box(0, h, 0, banner.x0)
    if down and banner.x0 <= 0:
        return Box(0, h, banner.x1, w)
    return Box(0, h, 0, w)


def fill_fraction(labels: np.ndarray, inside: np.ndarray, boundary_px: float) -> float:
    """Share of the frame's pixels (``inside``) that are grain or within ``boundary_px`` of a grain."""
    near = ndimage.distance_transform_edt(labels == 0) <= boundary_px if (labels > 0).any() else labels > 0
    return float((near & inside).sum() / max(inside.sum(), 1))


def jeffries(labels: np.ndarray, edge: np.ndarray) -> dict[str, float]:
    """Grains inside, cut by the frame (``edge`` pixels) and on its corners, and the equivalent count N."""
    ids = np.unique(labels[labels > 0])
    cut = np.unique(labels[edge & (labels > 0)])
    corners = np.unique([v for v in labels[[0, 0, -1, -1], [0, -1, 0, -1]] if v > 0])
    inside, intercepted = ids.size - cut.size, cut.size - corners.size
    return {"grains_inside": int(inside), "grains_intercepted": int(intercepted),
            "grains_on_corners": int(corners.size), "equivalent_grains": inside + intercepted / 2 + corners.size / 4}


def line_intercepts(profile: np.ndarray) -> float:
    """Intercepts along one test line of labels: one per run of a grain, one half for a run at either end (so a
    single-phase line crossing P boundaries has P intercepts, and a line inside one grain none)."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(profile) != 0) + 1])
    grains = profile[starts] > 0
    return float(grains.sum()) - 0.5 * float(grains[0]) - 0.5 * float(grains[-1])


def intercepts(labels: np.ndarray, lines: int) -> tuple[float, int]:
    """Intercepts and line length (px) of ``lines`` horizontal and ``lines`` vertical test lines."""
    h, w = labels.shape
    rows = ((np.arange(lines) + 0.5) * h / lines).astype(int)
    cols = ((np.arange(lines) + 0.5) * w / lines).astype(int)
    n = sum(line_intercepts(labels[r]) for r in rows) + sum(line_intercepts(labels[:, c]) for c in cols)
    return float(n), int(lines * (w + h))


def g_planimetric(n_a_per_mm2: float | None) -> float | None:
    """G = 3.321928 log10(N_A) - 2.954, N_A in grains per mm^2 at 1x."""
    return float(PLANIMETRIC[0] * np.log10(n_a_per_mm2) + PLANIMETRIC[1]) if n_a_per_mm2 else None


def g_intercept(mean_intercept_mm: float | None) -> float | None:
    """G = -6.643856 log10(l) - 3.288, l the mean lineal intercept in mm at 1x."""
    return float(INTERCEPT[0] * np.log10(mean_intercept_mm) + INTERCEPT[1]) if mean_intercept_mm else None


def grain_size_numbers(n: float, area_px: float, n_intercepts: float, length_px: float, px_um: float | None) -> dict:
    """N_A, G planimetric, mean lineal intercept and G intercept (None where undefined)."""
    mean_px = length_px / n_intercepts if n_intercepts > 0 else None
    out = {"frame_area_px": area_px, "line_length_px": length_px, "mean_intercept_px": mean_px}
    mm = px_um / UM_PER_MM if px_um else None
    n_a = n / (area_px * mm * mm) if mm and n > 0 else None
    l_mm = mean_px * mm if mm and mean_px else None
    return {**out, "n_a_per_mm2": n_a, "g_planimetric": g_planimetric(n_a), "mean_intercept_mm": l_mm,
            "g_intercept": g_intercept(l_mm)}


def e112_image(labels: np.ndarray, banner: Box | None, px_um: float | None, cfg: E112Config = E112Config()) -> dict:
    """Both E112 procedures on one image's instance map; ``reason`` says why there is no G (None when there is)."""
    box = frame_box(labels.shape, banner)
    frame = labels[box.slices]
    inside = ~_banner_mask(labels.shape, banner)[box.slices]
    edge = edge_mask(labels.shape, banner)[box.slices]
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    fill = fill_fraction(frame, inside, cfg.boundary_px)
    counts = jeffries(frame, edge)
    n_int, length = intercepts(frame, cfg.lines)
    out = {"fill_fraction": fill, "space_filling": fill >= cfg.min_fill, **counts, "intercepts": n_int,
           **grain_size_numbers(counts["equivalent_grains"], float(inside.sum()), n_int, length, px_um)}
    return {**out, "reason": _reason(out, px_um, cfg)}


def _banner_mask(shape: tuple[int, int], banner: Box | None) -> np.ndarray:
    mask = np.zeros(shape, bool)
    if banner is not None:
        mask[banner.slices] = True
    return mask


def _reason(out: dict, px_um: float | None, cfg: E112Config) -> str | None:
    if not out["space_filling"]:
        return (f"not space-filling: grains and boundaries cover {out['fill_fraction']:.0%} of the frame "
                f"(E112 needs >= {cfg.min_fill:.0%})")
    if not px_um:
        return "pixel size unknown: N_A and G need physical units (give --pixel-size)"
    return None


def _why_none(rows: Sequence[dict]) -> str:
    """Why no image gave a G, counted by reason, with the range of fill fractions of those not space-filling."""
    if not rows:
        return "no image"
    kinds = Counter(r["reason"].split(":")[0] for r in rows)
    fills = [r["fill_fraction"] for r in rows if not r["space_filling"]]
    cover = f" (grains and boundaries cover {min(fills):.0%} to {max(fills):.0%} of the frame)" if fills else ""
    return "; ".join(f"{n} image(s) {kind}" for kind, n in kinds.items()) + cover


def e112_summary(rows: Sequence[dict], px_um: Sequence[float | None]) -> dict:
    """Over the space-filling images with a pixel size: summed counts, areas, intercepts, lengths and both G."""
    ok = [(r, p) for r, p in zip(rows, px_um) if r["reason"] is None]
    if not ok:
        return {"images": 0, "reason": _why_none(rows), "g_planimetric": None, "g_intercept": None}
    n = sum(r["equivalent_grains"] for r, _ in ok)
    area_mm2 = sum(r["frame_area_px"] * (p / UM_PER_MM) ** 2 for r, p in ok)
    n_int = sum(r["intercepts"] for r, _ in ok)
    length_mm = sum(r["line_length_px"] * p / UM_PER_MM for r, p in ok)
    n_a, l_mm = n / area_mm2 if n else None, length_mm / n_int if n_int else None
    return {"images": len(ok), "images_left_out": len(rows) - len(ok), "equivalent_grains": n,
            "frame_area_mm2": area_mm2, "n_a_per_mm2": n_a, "g_planimetric": g_planimetric(n_a), "intercepts": n_int,
            "line_length_mm": length_mm, "mean_intercept_mm": l_mm, "g_intercept": g_intercept(l_mm), "reason": None}
