"""What a simulation reports: labeled images needed to reach a fraction of the full-data IoU, and the
learning curves (test IoU against labeled images, one line per strategy) as a PNG; over several seeds, the same
per seed, the best strategy's count over random's, and the mean curves with the seeds' range."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ml.report import pyplot, save_figure, write_rows

FULL = "full"  # the strategy name of the reference trained on every pool image
RANDOM = "random"  # the baseline strategy a campaign's gain is measured against


def _full_iou(rows: Sequence[dict]) -> float:
    full = [float(r["iou"]) for r in rows if r["strategy"] == FULL]
    if not full:
        raise ValueError(f"no {FULL!r} reference row: run the simulation with the full-data reference")
    return full[0]


def _curves(rows: Sequence[dict]) -> dict[str, list[tuple[int, float]]]:
    """(n_labeled, iou) per strategy, by n_labeled; rows may come from simulate.csv (strings)."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r["strategy"] != FULL:
            curves.setdefault(r["strategy"], []).append((int(r["n_labeled"]), float(r["iou"])))
    return {s: sorted(points) for s, points in curves.items()}


def images_to_reach(rows: Sequence[dict], fraction: float = 0.95) -> dict[str, int | None]:
    """Per strategy, the fewest labeled images whose test IoU reaches fraction x the full-data IoU
    (None: never within the simulated rounds)."""
    target = fraction * _full_iou(rows)
    return {s: next((n for n, iou in points if iou >= target), None) for s, points in _curves(rows).items()}


def plot_campaigns(path: Path, rows: Sequence[dict], fraction: float = 0.95) -> Path:
    """Test IoU against labeled images, one line per strategy; the full-data IoU and its fraction dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for strategy, points in _curves(rows).items():
        ax.plot(*zip(*points), "o-", label=strategy)
    if any(r["strategy"] == FULL for r in rows):
        full = _full_iou(rows)
        ax.axhline(full, color="black", ls="--", lw=1, label=f"all images ({full:.3f})")
        ax.axhline(fraction * full, color="grey", ls=":", lw=1, label=f"{fraction:.0%} of it")
    ax.set_xlabel("labeled images")
    ax.set_ylabel("test IoU")
    if ax.get_legend_handles_labels()[0]:  # no rows yet (no strategy, no full reference): no legend
        ax.legend(fontsize=8)
    return save_figure(fig, path)


@dataclass(frozen=True)
class SeedSummary:
    """Several seeds' campaigns: per strategy and seed, the labeled images to reach the fraction (None: not in
    the rounds run), and the best strategy's count over random's, per seed and for the means."""
    fraction: float
    full_iou: dict[int, float]  # seed -> full-data test IoU
    reach: dict[str, dict[int, int | None]]  # strategy -> seed -> labeled images (None: not reached)
    largest: int  # the most labeled images any campaign had: a count not reached is more than this

    def mean_reach(self, strategy: str) -> float | None:
        counts = list(self.reach[strategy].values())
        return None if None in counts else sum(counts) / len(counts)

    def mean_at_least(self, strategy: str) -> float:
        """The mean count with each seed not reached counted as ``largest``: the true mean is at least this."""
        counts = [self.largest if n is None else n for n in self.reach[strategy].values()]
        return sum(counts) / len(counts)

    def best(self) -> str:
        """The non-random strategy with the lowest mean count (one that missed a seed ranks after those that did
        not, by its lower bound)."""
        others = [s for s in self.reach if s != RANDOM] or list(self.reach)
        return min(others, key=lambda s: (self.mean_reach(s) is None, self.mean_at_least(s)))

    def ratio(self, strategy: str, seed: int | None = None) -> float | None:
        """strategy's count / random's, for one seed or for the means; None where either was not reached."""
        a, b = ((self.reach[strategy][seed], self.reach[RANDOM][seed]) if seed is not None
                else (self.mean_reach(strategy), self.mean_reach(RANDOM)))
        return None if a is None or b is None else a / b

    def ratio_bound(self, strategy: str) -> str | None:
        """Where one of strategy and random missed a seed and the other did not, the missed counts are more than
        ``largest``: the ratio of the means is '<= X' (random missed) or '>= X' (strategy missed). None otherwise."""
        mine, random = self.mean_reach(strategy), self.mean_reach(RANDOM)
        if (mine is None) == (random is None):
            return None
        ratio = self.mean_at_least(strategy) / self.mean_at_least(RANDOM)
        return f"<= {ratio:.2f}" if random is None else f">= {ratio:.2f}"

    def ratio_text(self, strategy: str) -> str:
        """'0.67', '<= 0.80' (random missed a seed), '>= 1.05' (strategy missed one) or '-' (both did)."""
        ratio = self.ratio(strategy)
        return f"{ratio:.2f}" if ratio is not None else self.ratio_bound(strategy) or "-"


def summarize_seeds(rows_by_seed: dict[int, Sequence[dict]], fraction: float = 0.95) -> SeedSummary:
    reach: dict[str, dict[int, int | None]] = {}
    for seed, rows in rows_by_seed.items():
        for strategy, n in images_to_reach(rows, fraction).items():
            reach.setdefault(strategy, {})[seed] = n
    largest = max(int(r["n_labeled"]) for rows in rows_by_seed.values() for r in rows if r["strategy"] != FULL)
    return SeedSummary(fraction, {seed: _full_iou(rows) for seed, rows in rows_by_seed.items()}, reach, largest)


def seeds_table(summary: SeedSummary) -> list[str]:
    """A markdown table: per strategy, each seed's count (">N" where not reached), the mean, and the ratio to
    random's."""
    seeds = sorted(summary.full_iou)
    lines = ["| strategy | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | / random |",
             "|---" * (len(seeds) + 3) + "|"]
    for strategy, counts in summary.reach.items():
        cells = [str(counts[s]) if counts[s] is not None else f">{summary.largest}" for s in seeds]
        mean = summary.mean_reach(strategy)
        mean_text = f"{mean:.1f}" if mean is not None else f">{summary.mean_at_least(strategy):.1f}"
        lines.append(f"| {strategy} | " + " | ".join(cells) + f" | {mean_text} | {summary.ratio_text(strategy)} |")
    fulls = ", ".join(f"{summary.full_iou[s]:.4f}" for s in seeds)
    lines.append(f"\nfull-data test IoU per seed: {fulls}; target {summary.fraction:.0%} of each seed's own")
    return lines


def plot_seeds(path: Path, rows_by_seed: dict[int, Sequence[dict]], fraction: float = 0.95) -> Path:
    """Each strategy's mean test IoU over the seeds against labeled images, the seeds' range shaded; the mean
    full-data IoU and its fraction dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    by_strategy: dict[str, dict[int, list[float]]] = {}
    for rows in rows_by_seed.values():
        for strategy, points in _curves(rows).items():
            for n, iou in points:
                by_strategy.setdefault(strategy, {}).setdefault(n, []).append(iou)
    for strategy, points in by_strategy.items():
        ns = sorted(points)
        line, = ax.plot(ns, [np.mean(points[n]) for n in ns], "o-", label=f"{strategy} (mean)")
        ax.fill_between(ns, [min(points[n]) for n in ns], [max(points[n]) for n in ns], color=line.get_color(),
                        alpha=0.15)
    full = float(np.mean([_full_iou(rows) for rows in rows_by_seed.values()]))
    ax.axhline(full, color="black", ls="--", lw=1, label=f"all images ({full:.3f}, mean)")
    ax.axhline(fraction * full, color="grey", ls=":", lw=1, label=f"{fraction:.0%} of it")
    ax.set_xlabel("labeled images")
    ax.set_ylabel(f"test IoU ({len(rows_by_seed)} seeds, range shaded)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def report_seeds(out: Path, csvs: dict[int, Path], fraction: float = 0.95) -> list[str]:
    """Reads each seed's simulate.csv; writes out/seeds.csv (seed, strategy, images to reach) and
    out/learning_curves.png; returns the markdown table and the best strategy's ratio to random's."""
    rows_by_seed = {seed: list(csv.DictReader(path.read_text().splitlines())) for seed, path in sorted(csvs.items())}
    summary = summarize_seeds(rows_by_seed, fraction)
    write_rows(out / "seeds.csv", [{"seed": seed, "strategy": strategy, "images_to_reach": n,
                                    "full_iou": summary.full_iou[seed]}
                                   for strategy, counts in summary.reach.items() for seed, n in counts.items()])
    plot_seeds(out / "learning_curves.png", rows_by_seed, fraction)
    best = summary.best()
    if summary.mean_reach(best) is None:
        bound = summary.ratio_bound(best)
        return seeds_table(summary) + [f"no strategy other than random reached {fraction:.0%} of the full-data IoU in "
                                       f"every seed within {summary.largest} labeled images"
                                       + (f"; best strategy {best}: {bound} of random's mean count" if bound else "")]
    per_seed = ", ".join("-" if (r := summary.ratio(best, s)) is None else f"{r:.2f}" for s in sorted(summary.full_iou))
    return seeds_table(summary) + [f"best strategy {best}: {summary.ratio_text(best)} of random's mean count "
                                   f"(per seed: {per_seed})"]
