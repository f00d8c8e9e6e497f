"""Bootstrap confidence intervals of grain size statistics, and how many grains a repeatable figure needs.

Two resampling levels: over images (the images are drawn with replacement, each bringing all its grains: the
spread between fields, which is what repeating the measurement on another specimen area sees) and over grains
(the grains of all images pooled and drawn with replacement: counting statistics only). On fields of one
specimen the two agree; fields that differ widen the interval over images. Each replicate recomputes D10, D50,
D90 and the span of every weighting (with the same number weights as the estimate, e.g. the Miles-Lantuejoul
ones) and, over images, the mean number of grains per image (the sum of the number weights: with the edge
correction, the estimated grains per frame). Intervals are percentile intervals of the replicates. Replicates
only change how often each grain counts, so the grains are sorted once and every replicate is a weighted
cumulative sum: B = 1000 over 10^4 grains takes about half a second (docs/benchmarks.md).

Grains needed (ISO 13322-1:2004, scope and Annex A): for a log-normal number distribution of geometric standard
deviation 1.6 (under 10:1 in size), over 6 000 particles give a repeatable volume-mean diameter and at least
61 000 a repeatable D90 or other percentile. Those two figures are what the measured count is compared against
(stated as the standard's example for that width, not a formula for other widths); the geometric standard
deviation of the measured grains is reported beside them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.distributions import PERCENTILES
from ml.iso9276 import WEIGHTINGS

ISO_13322_GRAINS = {"volume_mean": 6000, "percentiles": 61000}
ISO_13322_GSD = 1.6
LEVELS = ("images", "grains")


@dataclass(frozen=True)
class BootstrapConfig:
    """Replicates B (0 turns the intervals off), the seed, and the interval's confidence level."""

    replicates: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.replicates < 0 or not 0 < self.confidence < 1:
            raise ValueError(f"bootstrap needs replicates >= 0 and 0 < confidence < 1, got {self}")


def _sorted_percentiles(d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """D10/D50/D90 of sizes already sorted ascending, weights w (zero weights skipped)."""
    keep = w > 0
    d, w = d[keep], w[keep]
    if d.size == 0:
        return np.full(len(PERCENTILES), np.nan)
    position = (np.cumsum(w) - w / 2) / w.sum()
    return np.interp(np.asarray(PERCENTILES, np.float64) / 100.0, position, d)


def _replicate(d: np.ndarray, number_w: np.ndarray, multiplicity: np.ndarray) -> dict[str, np.ndarray]:
    w = number_w * multiplicity
    return {name: _sorted_percentiles(d, w * d**r) for name, r in WEIGHTINGS.items()}


def bootstrap(diameters, number_weights, images, cfg: BootstrapConfig, level: str, all_images=()) -> dict:
    """Percentile intervals ``{weighting: {d10: [lo, hi], ...}, "grains_per_image": [lo, hi]}`` at ``level``
    ('images' or 'grains'); grains with weight 0 (cut by the edge) still belong to their image, and ``all_images``
    adds images without a grain (fields with none count as fields)."""
    if level not in LEVELS:
        raise ValueError(f"unknown bootstrap level {level!r}: choose one of {', '.join(LEVELS)}")
    order = np.argsort(np.asarray(diameters, np.float64), kind="stable")
    d = np.asarray(diameters, np.float64)[order]
    w = np.asarray(number_weights, np.float64)[order]
    names = np.asarray(images).astype(str)[order]
    groups = np.unique(np.concatenate([names, np.asarray(all_images, dtype=str)]))
    image_of = np.searchsorted(groups, names)
    per_image = np.bincount(image_of, w, groups.size)  # weighted grains per image (grains per frame)
    rng = np.random.default_rng(cfg.seed)
    reps = {name: np.empty((cfg.replicates, len(PERCENTILES))) for name in WEIGHTINGS}
    counts = np.empty(cfg.replicates)
    for b in range(cfg.replicates):
        if level == "images":
            drawn = np.bincount(rng.integers(0, groups.size, groups.size), minlength=groups.size)
            multiplicity = drawn[image_of].astype(np.float64)
            counts[b] = float(np.sum(drawn * per_image)) / groups.size
        else:
            kept = np.flatnonzero(w > 0)
            multiplicity = np.zeros(d.size)
            multiplicity[kept] = np.bincount(rng.integers(0, kept.size, kept.size), minlength=kept.size)
        for name, row in _replicate(d, w, multiplicity).items():
            reps[name][b] = row
    return _intervals(reps, counts if level == "images" else None, cfg)


def _intervals(reps: dict[str, np.ndarray], counts: np.ndarray | None, cfg: BootstrapConfig) -> dict:
    tail = 50.0 * (1.0 - cfg.confidence)
    out: dict = {}
    for name, values in reps.items():
        lo, hi = (np.nanpercentile(values, tail, axis=0), np.nanpercentile(values, 100 - tail, axis=0)) \
            if cfg.replicates and not np.isnan(values).all() else (np.full(3, np.nan), np.full(3, np.nan))
        out[name] = {f"d{p}": [float(a), float(b)] for p, a, b in zip(PERCENTILES, lo, hi)}
        span = (values[:, 2] - values[:, 0]) / values[:, 1]
        out[name]["span"] = [float(np.nanpercentile(span, tail)), float(np.nanpercentile(span, 100 - tail))] \
            if cfg.replicates and not np.isnan(span).all() else [float("nan"), float("nan")]
    if counts is not None and cfg.replicates:
        out["grains_per_image"] = [float(np.percentile(counts, tail)), float(np.percentile(counts, 100 - tail))]
    return out


def geometric_sd(diameters, number_weights) -> float:
    """exp of the weighted standard deviation of ln(x): the width of a log-normal number distribution."""
    d, w = np.asarray(diameters, np.float64), np.asarray(number_weights, np.float64)
    keep = (w > 0) & (d > 0)
    if keep.sum() < 2:
        return float("nan")
    x, w = np.log(d[keep]), w[keep]
    mean = np.average(x, weights=w)
    return float(np.exp(np.sqrt(np.average((x - mean) ** 2, weights=w))))


def grains_needed(n_measured: int, gsd: float) -> dict:
    """The measured count against ISO 13322-1's figures, with the measured geometric standard deviation."""
    return {"grains_measured": int(n_measured), "geometric_sd": gsd, "reference_geometric_sd": ISO_13322_GSD,
            "needed_volume_mean": ISO_13322_GRAINS["volume_mean"],
            "needed_percentiles": ISO_13322_GRAINS["percentiles"],
            "enough_for_volume_mean": n_measured >= ISO_13322_GRAINS["volume_mean"],
            "enough_for_percentiles": n_measured >= ISO_13322_GRAINS["percentiles"],
            "source": "ISO 13322-1:2004 scope and Annex A: at geometric standard deviation 1.6, over 6 000 particles "
                      "for a repeatable volume-mean diameter, at least 61 000 for D90 or other percentiles; "
                      "wider distributions need more"}
