"""Grain size statistics to the standards for `grainloop measure`: ISO 9276 distributions and moment means per
class (``ml.iso9276``) with the Miles-Lantuejoul edge correction (``ml.edge_correction``), bootstrap intervals
over images and over grains and the ISO 13322-1 count check (``ml.bootstrap``), written as distribution.csv,
moments.csv and plots/distribution_<class>.png, and returned for summary.json.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ml.bootstrap import LEVELS, BootstrapConfig, bootstrap, geometric_sd, grains_needed
from ml.distributions import class_groups
from ml.edge_correction import number_weights, weight_check
from ml.iso9276 import VOLUME_NOTE, WEIGHTINGS, moment_rows, quantity_weights, statistics_by_class
from ml.report import pyplot, save_figure

STATISTICS = ("d10", "d50", "d90", "span")


@dataclass(frozen=True)
class StatsConfig:
    """The edge correction (on by default), cut grains (only without it) and the bootstrap."""

    edge_correction: bool = True
    include_cut: bool = False
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)


def grain_statistics(grains: pd.DataFrame, column: str, unit: str, cfg: StatsConfig,
                     images: Sequence[str] = ()) -> dict:
    """Per class ('all' first): ISO 9276 statistics, grains per image, bootstrap intervals at both levels and
    grains needed. ``images`` names every image measured (those without grains count as fields too)."""
    measured = sorted(set(map(str, images)) | set(grains["image"].astype(str)))
    weights = number_weights(grains, cfg.edge_correction, cfg.include_cut)
    stats = statistics_by_class(grains, column, weights)
    w = pd.Series(weights, index=grains.index)
    for name, g in class_groups(grains):
        d, gw = g[column].to_numpy(np.float64), w.loc[g.index].to_numpy()
        s = stats[name]
        s["grains_per_image"] = s["n_weighted"] / len(measured)
        s["intervals"] = {level: bootstrap(d, gw, g["image"].to_numpy(), cfg.bootstrap, level, measured)
                          for level in LEVELS} if cfg.bootstrap.replicates else {}
        s["grains_needed"] = grains_needed(s["n"], geometric_sd(d, gw))
    return {"size_column": column, "unit": unit, "edge_correction": "miles-lantuejoul" if cfg.edge_correction
            else "none (whole grains unweighted)" if not cfg.include_cut else "none (cut grains included)",
            "volume": VOLUME_NOTE, "bootstrap": {"replicates": cfg.bootstrap.replicates, "seed": cfg.bootstrap.seed,
                                                 "confidence": cfg.bootstrap.confidence, "levels": list(LEVELS)},
            "edge_weights": weight_check(weights) if cfg.edge_correction else None, "classes": stats}


def distribution_rows(result: dict) -> list[dict]:
    """distribution.csv: one row per class, weighting and statistic, with both intervals."""
    rows = []
    for cls, s in result["classes"].items():
        for weighting, values in s["weightings"].items():
            for stat in STATISTICS:
                row = {"class": cls, "weighting": weighting, "statistic": stat, "value": values[stat],
                       "unit": result["unit"] if stat != "span" else "", "n": s["n"]}
                for level in LEVELS:
                    lo, hi = s["intervals"].get(level, {}).get(weighting, {}).get(stat, [None, None])
                    row[f"ci_{level}_low"], row[f"ci_{level}_high"] = lo, hi
                rows.append(row)
    return rows


def write_statistics(out: Path, grains: pd.DataFrame, column: str, unit: str, cfg: StatsConfig,
                     images: Sequence[str] = ()) -> dict:
    """Compute, write distribution.csv, moments.csv and the plots under ``out``; return the result."""
    result = grain_statistics(grains, column, unit, cfg, images)
    pd.DataFrame(distribution_rows(result)).to_csv(out / "distribution.csv", index=False)
    pd.DataFrame(moment_rows(result["classes"], unit)).to_csv(out / "moments.csv", index=False)
    weights = number_weights(grains, cfg.edge_correction, cfg.include_cut)
    result["plots"] = [p.name for p in plot_weighted(grains, column, unit, weights, result, out / "plots")]
    return result


def _file_name(cls: str) -> str:
    return "distribution_" + (re.sub(r"[^A-Za-z0-9_-]+", "_", cls) or "class") + ".png"


def plot_weighted(grains: pd.DataFrame, column: str, unit: str, weights: np.ndarray, result: dict,
                  out_dir: Path) -> list[Path]:
    """One PNG per class: the cumulative distribution Q_r of each weighting (number, area, volume) with D10/D50/D90
    marked and their bootstrap intervals over images shaded (over grains as a bar under the axis)."""
    plt, w = pyplot(), pd.Series(weights, index=grains.index)
    paths = []
    for cls, g in class_groups(grains):
        fig, axes = plt.subplots(1, len(WEIGHTINGS), figsize=(4 * len(WEIGHTINGS), 3.4), sharey=True)
        s = result["classes"][cls]
        for ax, weighting in zip(axes, WEIGHTINGS):
            _panel(ax, g[column].to_numpy(np.float64), w.loc[g.index].to_numpy(), weighting, s)
            ax.set_xlabel(f"ECD ({unit})")
        axes[0].set_ylabel("cumulative fraction Q_r")
        level = f"{result['bootstrap']['confidence']:.0%}"
        fig.suptitle(f"{cls}: {s['n']} grains, edge correction {result['edge_correction']}; shaded: {level} interval "
                     "over images, bar: over grains", fontsize=9)
        paths.append(save_figure(fig, out_dir / _file_name(cls)))
    return paths


def _panel(ax, d: np.ndarray, w: np.ndarray, weighting: str, s: dict) -> None:
    q = quantity_weights(d, w, weighting)
    order = np.argsort(d)
    total = q.sum()
    if total > 0:
        ax.step(d[order], np.cumsum(q[order]) / total, where="post", lw=1.2)
    intervals = s.get("intervals", {})
    for stat, colour in zip(("d10", "d50", "d90"), ("tab:green", "tab:red", "tab:purple")):
        value = s["weightings"][weighting][stat]
        if value != value:  # NaN: an empty distribution
            continue
        ax.axvline(value, color=colour, lw=1, label=f"{stat.upper()} {value:.3g}")
        lo, hi = intervals.get("images", {}).get(weighting, {}).get(stat, [None, None])
        if lo is not None and lo == lo:
            ax.axvspan(lo, hi, color=colour, alpha=0.15)
        lo, hi = intervals.get("grains", {}).get(weighting, {}).get(stat, [None, None])
        if lo is not None and lo == lo:
            ax.plot([lo, hi], [-0.04, -0.04], color=colour, lw=3, solid_capstyle="butt")
    ax.set_title(f"{weighting}-weighted (span {s['weightings'][weighting]['span']:.2f})", fontsize=9)
    ax.set_ylim(-0.08, 1.02)
    ax.legend(fontsize=7, loc="lower right")
