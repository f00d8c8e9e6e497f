"""The release's leaderboard as people read it: a markdown table and a bar plot of its rows, best first.

Rows are those of leaderboard.csv (dataset.leaderboard): registered model versions and outside entries side by
side, sorted by the primary metric (promotion's score, higher is better); rows without it come last.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from foundation.atomic import write_atomic
from ml.metrics import CLASS_IOU_PREFIX
from ml.report import pyplot

LEADERBOARD_MD = "leaderboard.md"
LEADERBOARD_PNG = "leaderboard.png"
ENTRY_COLUMNS = ("entry", "source", "images")
MISSING = "–"  # a metric an entry has no value for (an outside class map has no grain metrics)
NOTE = ("Registered versions are scored as promotion scores them: grains are split from the predicted and the true "
        "class maps alike. Outside 16-bit instance maps are scored against the release's instance maps; outside 8-bit "
        "class maps get pixel metrics only.")


def value(row: dict, key: str) -> float:
    """The row's metric as a number; NaN when it has none."""
    try:
        return float(row.get(key) or "nan")
    except ValueError:
        return math.nan


def ranked(rows: Sequence[dict], primary: str) -> list[dict]:
    """The rows best first by the primary metric (higher is better), rows without it last, then by entry."""
    return sorted(rows, key=lambda r: (math.isnan(value(r, primary)), -np.nan_to_num(value(r, primary)), r["entry"]))


def metric_columns(rows: Sequence[dict], metric_keys: Sequence[str]) -> list[str]:
    """The metrics any row has: those asked for in their order, then every class's IoU."""
    present = {k for r in rows for k, v in r.items() if v not in (None, "")}
    classes = sorted(k for k in present if k.startswith(CLASS_IOU_PREFIX))
    return [k for k in dict.fromkeys([*metric_keys, *classes]) if k in present]


def _cell(row: dict, key: str) -> str:
    if key in ENTRY_COLUMNS:
        return str(row.get(key, ""))
    number = value(row, key)
    return MISSING if math.isnan(number) else f"{number:.4g}"


def table_rows(rows: Sequence[dict], primary: str, metric_keys: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """(header, cells) of the leaderboard: rank, entry, source, images, then the metrics, best first."""
    columns = [*ENTRY_COLUMNS, *metric_columns(rows, [primary, *metric_keys])]
    return ["rank", *columns], [[str(n), *(_cell(r, c) for c in columns)]
                                for n, r in enumerate(ranked(rows, primary), start=1)]


def markdown(rows: Sequence[dict], primary: str, metric_keys: Sequence[str], title: str) -> str:
    header, cells = table_rows(rows, primary, metric_keys)
    align = ["---:" if h in ("rank", "images") or h not in ENTRY_COLUMNS else "---" for h in header]
    lines = [f"# {title}", "", f"Sorted by `{primary}` (higher is better). Scored on the release's test split only.",
             "", NOTE, "", "| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join(lines) + "\n"


def plot(path: Path, rows: Sequence[dict], metrics: Sequence[str], title: str) -> Path:
    """Horizontal bars of the metrics per entry (best at the top); an entry without a metric has no bar."""
    plt = pyplot()
    names = [r["entry"] for r in rows]
    height = 0.8 / max(len(metrics), 1)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.5 * len(rows) * max(len(metrics), 1) ** 0.5))
    for k, key in enumerate(metrics):
        ys = np.arange(len(rows)) + k * height
        ax.barh(ys, [np.nan_to_num(value(r, key)) for r in rows], height, label=key)
    ax.set_yticks(np.arange(len(rows)) + height * (len(metrics) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (higher is better)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_reports(release: Path, rows: Sequence[dict], primary: str, metric_keys: Sequence[str],
                  plotted: Sequence[str], title: str) -> tuple[Path, Path]:
    """leaderboard.md and leaderboard.png in the release folder; their paths."""
    best = ranked(rows, primary)
    write_atomic(release / LEADERBOARD_MD, markdown(best, primary, metric_keys, title))
    return release / LEADERBOARD_MD, plot(release / LEADERBOARD_PNG, best, plotted, title)
