"""Grain size distributions: D10/D50/D90 by number and by area, distances between distributions, plots.

Percentiles are read off the weighted cumulative distribution with each grain at the middle of its own weight
step (with equal weights: the Hazen plotting position), interpolated linearly. Number-weighted: every grain
counts once. Area-weighted: every grain counts by its area (the share of the imaged area in grains up to a
size), so large grains dominate, as in sieve or laser-diffraction data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ml.report import pyplot, save_figure

PERCENTILES = (10, 50, 90)


def weighted_percentiles(values: Sequence[float], weights: Sequence[float] | None = None,
                         q: Sequence[float] = PERCENTILES) -> np.ndarray:
    """Percentiles ``q`` (0-100) of ``values``, each weighted by ``weights`` (default: 1); NaN when empty."""
    v = np.asarray(values, np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, np.float64)
    if v.size == 0 or w.sum() <= 0:
        return np.full(len(q), np.nan)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    position = (np.cumsum(w) - w / 2) / w.sum()
    return np.interp(np.asarray(q, np.float64) / 100.0, position, v)


def size_summary(diameters: Sequence[float], areas: Sequence[float] | None = None) -> dict:
    """n, mean, D10/D50/D90 by number and (with ``areas``, else d^2) by area."""
    d = np.asarray(diameters, np.float64)
    a = d**2 if areas is None else np.asarray(areas, np.float64)
    n10, n50, n90 = map(float, weighted_percentiles(d))
    a10, a50, a90 = map(float, weighted_percentiles(d, a))
    return {"n": int(d.size), "mean": float(d.mean()) if d.size else float("nan"),
            "d10": n10, "d50": n50, "d90": n90, "d10_area": a10, "d50_area": a50, "d90_area": a90}


def size_distribution_error(pred_diameters: Sequence[float], ref_diameters: Sequence[float]) -> dict:
    """How far a predicted grain-size distribution is from a reference one (for the promotion rule).

    Returns ``ks``: the two-sample Kolmogorov-Smirnov statistic (largest gap between the two number-weighted
    cumulative distributions, 0 = identical, 1 = disjoint; scale-free), ``ks_pvalue``, ``wasserstein``: the
    earth mover's distance between the two number-weighted distributions, in the diameters' unit (the mean
    shift a grain's size needs to turn one into the other), and ``n_pred``/``n_ref``.
    Both empty: 0 and 0. One empty: ks 1 and wasserstein inf (the worst possible), never an exception.
    """
    p, r = np.asarray(pred_diameters, np.float64), np.asarray(ref_diameters, np.float64)
    out = {"n_pred": int(p.size), "n_ref": int(r.size)}
    if p.size == 0 or r.size == 0:
        empty = p.size == r.size
        return {"ks": 0.0 if empty else 1.0, "ks_pvalue": 1.0 if empty else 0.0,
                "wasserstein": 0.0 if empty else float("inf"), **out}
    ks = stats.ks_2samp(p, r)
    return {"ks": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
            "wasserstein": float(stats.wasserstein_distance(p, r)), **out}


def sized_grains(table: pd.DataFrame, include_cut: bool = False) -> pd.DataFrame:
    """The grains whose size counts: those cut by the border or banner only with ``include_cut`` (their size
    is a lower bound, and large grains are cut more often, so keeping them biases sizes down)."""
    if include_cut or "cut_by_edge" not in table:
        return table
    return table[~table["cut_by_edge"].astype(bool)]


def summarise(table: pd.DataFrame, column: str = "ecd_px", include_cut: bool = False) -> dict[str, dict]:
    """Size summaries of ``column`` over ``sized_grains``: all, and per class name when there are several."""
    if table.empty:
        return {"all": size_summary([])}
    return {name: size_summary(g[column], g["area_px"]) for name, g in class_groups(sized_grains(table, include_cut))}


def class_groups(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """("all", every grain), then one (class name, its grains) per class when there are several."""
    groups = [("all", table)]
    if table["class_name"].nunique() > 1:
        groups += [(str(c), g) for c, g in table.groupby("class_name")]
    return groups


def _cumulative(ax, d: np.ndarray, a: np.ndarray, name: str) -> None:
    order = np.argsort(d)
    for weights, style, kind in ((np.ones_like(d), "-", "number"), (a, "--", "area")):
        ax.plot(d[order], np.cumsum(weights[order]) / max(weights.sum(), 1), style, label=f"{name} ({kind})")


def plot_distributions(table: pd.DataFrame, out_dir: Path, column: str = "ecd_px", unit: str = "px",
                       include_cut: bool = False) -> list[Path]:
    """``size_histogram.png`` (number and area weighted) and ``size_cumulative.png`` of ``sized_grains``,
    one curve per class."""
    plt, table = pyplot(), sized_grains(table, include_cut)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig_h, (ax_n, ax_a) = plt.subplots(1, 2, figsize=(9, 3.5))
    fig_c, ax_c = plt.subplots(figsize=(5, 3.5))
    d_all = table[column].to_numpy(np.float64)
    bins = np.histogram_bin_edges(d_all, bins=min(40, max(5, d_all.size // 5))) if d_all.size else 10
    for name, g in class_groups(table):
        d, a = g[column].to_numpy(np.float64), g["area_px"].to_numpy(np.float64)
        ax_n.hist(d, bins=bins, histtype="step", label=name)
        ax_a.hist(d, bins=bins, weights=a / max(a.sum(), 1), histtype="step", label=name)
        _cumulative(ax_c, d, a, name)
    xlabel = f"equivalent circular diameter ({unit})"
    for ax, ylabel in ((ax_n, "grains"), (ax_a, "area fraction"), (ax_c, "cumulative fraction")):
        _label(ax, xlabel, ylabel)
    return [save_figure(fig_h, out_dir / "size_histogram.png"), save_figure(fig_c, out_dir / "size_cumulative.png")]


def _label(ax, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
