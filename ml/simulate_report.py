"""What a simulation reports: labeled images needed to reach a fraction of the full-data IoU, and the
learning curves (test IoU against labeled images, one line per strategy) as a PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ml.report import pyplot, save_figure

FULL = "full"  # the strategy name of the reference trained on every pool image


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
