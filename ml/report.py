"""Files a person reads: metrics as JSON and CSV, overlay PNGs, learning curves."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from foundation.atomic import atomic_path, write_atomic
from foundation.schema import LabelSchema
from ml.metrics import MEAN_FG_IOU


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _clean(value.item())
    return value


def write_json(path: Path, data: dict) -> Path:
    """Written atomically (temp and rename): a killed write leaves the old file."""
    return write_atomic(path, json.dumps({k: _clean(v) for k, v in data.items()}, indent=2, sort_keys=True,
                                         default=str))


def write_rows(path: Path, rows: Sequence[dict]) -> Path:
    """A CSV of the rows (columns in order of first appearance), written atomically."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows({k: _clean(v) for k, v in r.items()} for r in rows)
    return path


def _rgb(hex_color: str) -> np.ndarray:
    h = hex_color.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)


def overlay(image: np.ndarray, labels: np.ndarray, schema: LabelSchema, alpha: float = 0.45) -> np.ndarray:
    """RGB uint8: the first channel of a normalised (C, H, W) image with class colours blended on top."""
    grey = np.repeat((np.clip(image[0], 0, 1) * 255)[..., None], 3, axis=2)
    out = grey.copy()
    for value, cls in enumerate(schema.classes, start=1):
        m = labels == value
        out[m] = (1 - alpha) * grey[m] + alpha * _rgb(cls.color)
    return out.astype(np.uint8)


def save_overlay(path: Path, image: np.ndarray, labels: np.ndarray, schema: LabelSchema,
                 truth: np.ndarray | None = None) -> Path:
    """Prediction overlay; with a ground truth, shown side by side (truth left, prediction right)."""
    panel = overlay(image, labels, schema)
    if truth is not None:
        panel = np.concatenate([overlay(image, truth, schema), np.full((panel.shape[0], 4, 3), 255, np.uint8), panel], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(panel).save(path)
    return path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Lay out, write the PNG at 100 dpi (making its folder) and close the figure."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path


def plot_learning_curve(path: Path, history: Sequence[dict], score_key: str = MEAN_FG_IOU) -> Path:
    """Training loss and validation score per epoch, one PNG."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", color="tab:red", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h.get(score_key, np.nan) for h in history], "s-", color="tab:blue", label=score_key)
    ax2.set_ylabel(f"validation {score_key}")
    fig.legend(loc="upper center", ncol=2, fontsize=8)
    return save_figure(fig, path)


def plot_confusion(path: Path, confusion: np.ndarray, names: Sequence[str]) -> Path:
    """Row-normalised confusion matrix (truth rows, prediction columns) with pixel fractions written in."""
    plt = pyplot()
    rows = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 1.1 * len(names) + 1.5))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(rows):
        ax.text(j, i, f"{v:.3f}", ha="center", va="center", color="white" if v > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("truth")
    return save_figure(fig, path)
