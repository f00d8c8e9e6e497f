"""Segmentation metrics, accumulated as statistics over images then reduced.

Per-class IoU and Dice come from one global confusion matrix (rows = target,
columns = prediction), so the dataset IoU is TP / (TP + FP + FN) over all
pixels, not a mean of per-image IoUs. Boundary F1 accumulates matched and total
boundary-pixel counts per class. Pixels whose target is ``ignore_index`` are
excluded everywhere; a class absent from both prediction and target gets NaN
and is left out of the means.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# metric names other layers key on (the training score, promotion's checks): written here, imported elsewhere
MEAN_FG_IOU = "mean_fg_iou"  # mean IoU of the foreground classes: the training and promotion score
SIZE_ERROR = "size_distribution_error"  # grain size distribution KS statistic (ml.grain_eval); lower is better
CLASS_IOU_PREFIX = "iou/"  # + a class name: that class's IoU

_CROSS = ndimage.generate_binary_structure(2, 1)


@dataclass
class _Stats:
    """Additive statistics: confusion matrix and boundary counts per class."""

    confusion: np.ndarray  # (K, K) int64, rows = target, columns = prediction
    boundary: np.ndarray  # (K, 4): pred matched, pred total, true matched, true total

    @classmethod
    def zeros(cls, num_classes: int) -> "_Stats":
        k = num_classes
        return cls(np.zeros((k, k), dtype=np.int64), np.zeros((k, 4), dtype=np.int64))

    def add(self, other: "_Stats") -> None:
        self.confusion += other.confusion
        self.boundary += other.boundary


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise num / den with NaN where den == 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    """Mean of the finite values, NaN when there are none (no warning)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _boundary(mask: np.ndarray, ignored: np.ndarray) -> np.ndarray:
    """Inner boundary of ``mask``; edges against ignored pixels or the frame are not boundary."""
    eroded = ndimage.binary_erosion(mask | ignored, structure=_CROSS, border_value=1)
    return mask & ~eroded


def _matched(points: np.ndarray, reference: np.ndarray, tolerance: int) -> int:
    """Number of ``points`` pixels within ``tolerance`` px of a ``reference`` pixel."""
    if not points.any() or not reference.any():
        return 0
    distance = ndimage.distance_transform_edt(~reference)
    return int(np.count_nonzero(points & (distance <= tolerance)))


def _boundary_f1(counts: np.ndarray) -> np.ndarray:
    """F1 per class from (pred matched, pred total, true matched, true total) rows."""
    precision = _ratio(counts[:, 0], counts[:, 1])
    recall = _ratio(counts[:, 2], counts[:, 3])
    f1 = _ratio(2 * precision * recall, precision + recall)
    one_side = (counts[:, 1] > 0) ^ (counts[:, 3] > 0)
    both_zero = (precision == 0) & (recall == 0)
    f1[one_side | both_zero] = 0.0
    return f1


class SegmentationMetrics:
    """Accumulates confusion-matrix and boundary statistics; ``compute`` reduces them."""

    def __init__(
        self,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        ignore_index: int = 255,
        boundary_tolerance: int = 2,
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(f"class_names has {len(names)} names, expected num_classes={num_classes}")
        self.num_classes = num_classes
        self.class_names = names
        self.ignore_index = ignore_index
        self.boundary_tolerance = boundary_tolerance
        self.reset()

    def reset(self) -> None:
        """Drop all accumulated statistics and rows."""
        self._total = _Stats.zeros(self.num_classes)
        self._rows: list[dict] = []

    @property
    def rows(self) -> list[dict]:
        """Per-image rows in update order (image_id plus that image's metrics)."""
        return list(self._rows)

    @property
    def confusion_matrix(self) -> np.ndarray:
        """Accumulated KxK confusion matrix, rows = target class, columns = predicted class."""
        return self._total.confusion.copy()

    def update(self, pred: np.ndarray, target: np.ndarray, image_id: str = "") -> dict:
        """Add one (H, W) prediction/target pair; returns its per-image row."""
        pred, target = self._validate(pred, target)
        stats = self._image_stats(pred, target)
        self._total.add(stats)
        row = {"image_id": image_id, **self._reduce(stats)}
        self._rows.append(row)
        return row

    def compute(self) -> dict:
        """Dataset metrics from all accumulated statistics."""
        return {**self._reduce(self._total), "n_images": len(self._rows)}

    def _validate(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.ndim != 2 or pred.shape != target.shape:
            raise ValueError(f"pred and target must be equal (H, W) arrays, got {pred.shape} and {target.shape}")
        valid = target != self.ignore_index
        for name, arr in (("pred", pred[valid]), ("target", target[valid])):
            if arr.size and (arr.min() < 0 or arr.max() >= self.num_classes):
                raise ValueError(f"{name} has values outside 0..{self.num_classes - 1} (and ignore_index)")
        return pred.astype(np.int64), target.astype(np.int64)

    def _image_stats(self, pred: np.ndarray, target: np.ndarray) -> _Stats:
        ignored = target == self.ignore_index
        k = self.num_classes
        flat = target[~ignored] * k + pred[~ignored]
        stats = _Stats.zeros(k)
        stats.confusion += np.bincount(flat, minlength=k * k).reshape(k, k)
        for c in range(k):
            stats.boundary[c] = self._boundary_counts((pred == c) & ~ignored, (target == c), ignored)
        return stats

    def _boundary_counts(self, pred_mask: np.ndarray, true_mask: np.ndarray, ignored: np.ndarray) -> list[int]:
        pb, tb = _boundary(pred_mask, ignored), _boundary(true_mask, ignored)
        tol = self.boundary_tolerance
        return [_matched(pb, tb, tol), int(pb.sum()), _matched(tb, pb, tol), int(tb.sum())]

    def _reduce(self, stats: _Stats) -> dict:
        cm = stats.confusion
        tp = np.diag(cm).astype(np.float64)
        fp, fn = cm.sum(axis=0) - tp, cm.sum(axis=1) - tp
        iou, dice = _ratio(tp, tp + fp + fn), _ratio(2 * tp, 2 * tp + fp + fn)
        bf1 = _boundary_f1(stats.boundary)
        out: dict = {}
        for prefix, values in ((CLASS_IOU_PREFIX, iou), ("dice/", dice), ("boundary_f1/", bf1)):
            out.update({f"{prefix}{n}": float(v) for n, v in zip(self.class_names, values)})
        out["mean_iou"] = _nanmean(iou)
        out[MEAN_FG_IOU] = _nanmean(iou[1:])
        out["pixel_accuracy"] = float(_ratio(tp.sum(), cm.sum()))
        out["boundary_f1"] = _nanmean(bf1[1:])
        return out
