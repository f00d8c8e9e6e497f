"""Size statistics in the terms of ISO 9276-1 and -2: number-, area- and volume-weighted distributions of the
equivalent circular diameter (ECD), their D10/D50/D90 and span, and moment-ratio mean diameters.

- Quantity types (ISO 9276-1): r = 0 number, r = 2 area, r = 3 volume. Each grain weighs its number weight (1, or
  its Miles-Lantuejoul weight, ``ml.edge_correction``) times x^r, with x its ECD. The area weighting is the grain's
  projected area exactly (pi/4 ECD^2); the volume weighting is that of a sphere of diameter ECD (pi/6 ECD^3): a
  model, as no section shows a grain's volume.
- D10/D50/D90 (x_10,r, x_50,r, x_90,r): percentiles of the weighted cumulative distribution Q_r, read as in
  ``ml.distributions.weighted_percentiles``; span = (D90 - D10) / D50.
- Means: moment-ratio means D[p,q] = (sum w x^p / sum w x^q)^(1/(p-q)), the sums over grains with their number
  weights w. ISO 9276-2 writes the complete moment M_k,r = integral x^k q_r(x) dx and the mean x_bar_k,r =
  M_k,r^(1/k); for the same distribution D[p,q] = x_bar_(p-q),q: D[1,0] = x_bar_1,0 (arithmetic mean by number),
  D[2,0] = x_bar_2,0, D[3,0] = x_bar_3,0, D[3,2] = x_bar_1,2 (Sauter, surface-weighted), D[4,3] = x_bar_1,3 (De
  Brouckere, volume-weighted). Both notations are given with every value.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ml.distributions import PERCENTILES, class_groups, weighted_percentiles

WEIGHTINGS: dict[str, int] = {"number": 0, "area": 2, "volume": 3}  # quantity type -> r
MOMENT_MEANS: dict[str, tuple[int, int, str]] = {  # D[p,q] -> (p, q, name)
    "D[1,0]": (1, 0, "arithmetic mean by number"),
    "D[2,0]": (2, 0, "mean by number of the squared diameter (area mean)"),
    "D[3,0]": (3, 0, "mean by number of the cubed diameter (volume mean)"),
    "D[3,2]": (3, 2, "Sauter mean (surface-weighted)"),
    "D[4,3]": (4, 3, "De Brouckere mean (volume-weighted)"),
}
VOLUME_NOTE = "volume-weighted from the ECD: each grain counted as a sphere of diameter ECD"


def check_weighting(name: str) -> int:
    """r of a quantity type; an unknown name is an error that lists the valid ones."""
    if name not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {name!r}: choose one of {', '.join(WEIGHTINGS)}")
    return WEIGHTINGS[name]


def iso_notation(key: str) -> str:
    """'D[3,2]' -> 'x_bar_1,2' (ISO 9276-2: k = p - q, r = q)."""
    p, q, _ = MOMENT_MEANS[key]
    return f"x_bar_{p - q},{q}"


def quantity_weights(diameters, number_weights, weighting: str) -> np.ndarray:
    """Each grain's weight in the distribution of quantity type ``weighting``: w * x^r."""
    d = np.asarray(diameters, np.float64)
    return np.asarray(number_weights, np.float64) * d ** check_weighting(weighting)


def percentile_row(diameters, weights, q: Sequence[float] = PERCENTILES) -> dict[str, float]:
    """D10, D50, D90 and span of one weighted distribution; NaN when it is empty."""
    d10, d50, d90 = map(float, weighted_percentiles(diameters, weights, q))
    return {"d10": d10, "d50": d50, "d90": d90, "span": (d90 - d10) / d50 if d50 > 0 else float("nan")}


def moment_mean(diameters, number_weights, p: int, q: int) -> float:
    """D[p,q] = (sum w x^p / sum w x^q)^(1/(p-q)); NaN when there is no grain."""
    if p <= q:
        raise ValueError(f"D[p,q] needs p > q, got D[{p},{q}]")
    d, w = np.asarray(diameters, np.float64), np.asarray(number_weights, np.float64)
    bottom = float(np.sum(w * d**q))
    return float((np.sum(w * d**p) / bottom) ** (1.0 / (p - q))) if bottom > 0 else float("nan")


def moment_means(diameters, number_weights) -> dict[str, float]:
    """Every mean of MOMENT_MEANS by its D[p,q] name."""
    return {key: moment_mean(diameters, number_weights, p, q) for key, (p, q, _) in MOMENT_MEANS.items()}


def size_statistics(diameters, number_weights) -> dict:
    """n (grains with weight), the weighted count, D10/D50/D90/span per weighting, and the moment means."""
    d, w = np.asarray(diameters, np.float64), np.asarray(number_weights, np.float64)
    return {"n": int(np.count_nonzero(w > 0)), "n_weighted": float(w.sum()),
            "weightings": {name: percentile_row(d, quantity_weights(d, w, name)) for name in WEIGHTINGS},
            "moment_means": moment_means(d, w)}


def statistics_by_class(table: pd.DataFrame, column: str, weights: np.ndarray) -> dict[str, dict]:
    """``size_statistics`` of ``column`` for all grains and per class, ``weights`` aligned with ``table``'s rows."""
    w = pd.Series(np.asarray(weights, np.float64), index=table.index)
    return {name: size_statistics(g[column], w.loc[g.index]) for name, g in class_groups(table)}


def moment_rows(stats: dict[str, dict], unit: str) -> list[dict]:
    """moments.csv: one row per class and mean, in both notations."""
    return [{"class": cls, "mean": key, "iso_9276_2": iso_notation(key), "name": MOMENT_MEANS[key][2],
             "value": value, "unit": unit}
            for cls, s in stats.items() for key, value in s["moment_means"].items()]
