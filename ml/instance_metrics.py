"""Instance metrics against ground-truth instance maps: matched F1 at IoU 0.5, AP50, panoptic quality, counts.

A predicted grain matches a true grain when their IoU exceeds 0.5; such a match is unique (two grains cannot
both overlap one grain by more than half), so no assignment problem has to be solved.

- ``f1``: 2 TP / (2 TP + FP + FN) at IoU > 0.5;
- ``ap50``: with a confidence score per predicted grain, the area under the interpolated precision-recall
  curve (COCO style, one IoU threshold of 0.5); without scores, TP / (TP + FP + FN), the "average precision"
  at one threshold used for cell and particle segmentation (StarDist, Cellpose);
- ``pq``: panoptic quality = SQ x RQ, SQ the mean IoU of matched pairs and RQ the F1 above;
- ``count_error``: predicted minus true grain count; ``count_rel_error`` divided by the true count;
  ``count_rel_error_median``: the median over images of each image's absolute relative count error.

Statistics are accumulated over images and reduced once, like ``ml.metrics.SegmentationMetrics``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Match:
    """Matched pairs (true id, predicted id, IoU) and the number of grains on each side."""

    pairs: np.ndarray  # (M, 2) int: true id, predicted id
    ious: np.ndarray  # (M,) float
    n_true: int
    n_pred: int


def _ids(labels: np.ndarray) -> np.ndarray:
    """The grain ids (> 0) present in an instance map, ascending."""
    return np.flatnonzero(np.bincount(np.asarray(labels, np.int64).ravel())[1:]) + 1


def match_instances(true: np.ndarray, pred: np.ndarray, threshold: float = IOU_THRESHOLD) -> Match:
    """Pairs of grains whose IoU exceeds ``threshold`` (>= 0.5, so each grain matches at most once)."""
    if true.shape != pred.shape:
        raise ValueError(f"instance maps differ in shape: {true.shape} and {pred.shape}")
    true, pred = np.asarray(true, np.int64), np.asarray(pred, np.int64)
    t_area, p_area = np.bincount(true.ravel()), np.bincount(pred.ravel())
    both = (true > 0) & (pred > 0)
    keys, overlap = np.unique(true[both] * p_area.size + pred[both], return_counts=True)  # one int per pair
    pairs = np.stack(np.divmod(keys, p_area.size))
    union = t_area[pairs[0]] + p_area[pairs[1]] - overlap
    iou = overlap / np.maximum(union, 1)
    keep = iou > max(threshold, 0.5)
    n_true, n_pred = np.count_nonzero(t_area[1:]), np.count_nonzero(p_area[1:])
    return Match(pairs.T[keep].astype(np.int64), iou[keep], int(n_true), int(n_pred))


def _ap(scores: np.ndarray, hit: np.ndarray, n_true: int) -> float:
    """Area under the interpolated precision-recall curve of detections ranked by score."""
    if n_true == 0:
        return float("nan") if hit.size == 0 else 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hit[order])
    precision = tp / np.arange(1, hit.size + 1)
    recall = tp / n_true
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float((steps * envelope).sum())


@dataclass
class InstanceMetrics:
    """Accumulates matches over images; ``compute`` gives the dataset figures, ``rows`` per-image ones."""

    tp: int = 0
    n_true: int = 0
    n_pred: int = 0
    iou_sum: float = 0.0
    scores: list[np.ndarray] = field(default_factory=list)
    hits: list[np.ndarray] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)

    def update(self, true: np.ndarray, pred: np.ndarray, image_id: str = "",
               scores: dict[int, float] | None = None) -> dict:
        """Add one image; ``scores`` maps predicted grain id to its confidence (for the ranked AP50)."""
        m = match_instances(true, pred)
        self.tp, self.n_true, self.n_pred = self.tp + len(m.ious), self.n_true + m.n_true, self.n_pred + m.n_pred
        self.iou_sum += float(m.ious.sum())
        if scores is not None:
            ids = _ids(pred)
            self.scores.append(np.array([scores.get(int(i), 0.0) for i in ids], np.float64))
            self.hits.append(np.isin(ids, m.pairs[:, 1]))
        row = {"image_id": image_id, **_reduce(len(m.ious), m.n_true, m.n_pred, float(m.ious.sum()))}
        self.rows.append(row)
        return row

    def compute(self) -> dict:
        out = _reduce(self.tp, self.n_true, self.n_pred, self.iou_sum)
        if self.scores and len(self.scores) == len(self.rows):
            out["ap50"] = _ap(np.concatenate(self.scores), np.concatenate(self.hits), self.n_true)
            out["ap50_kind"] = "ranked"
        per_image = [abs(r["count_rel_error"]) for r in self.rows if r["n_true"]]
        out["count_rel_error_median"] = float(np.median(per_image)) if per_image else float("nan")
        return {**out, "n_images": len(self.rows)}


def _reduce(tp: int, n_true: int, n_pred: int, iou_sum: float) -> dict:
    fp, fn = n_pred - tp, n_true - tp
    nan = float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else nan
    sq = iou_sum / tp if tp else (nan if not (fp + fn) else 0.0)
    return {"f1": f1, "ap50": tp / (tp + fp + fn) if (tp + fp + fn) else nan, "ap50_kind": "tp/(tp+fp+fn)",
            "pq": sq * f1 if tp else (0.0 if (fp + fn) else nan), "sq": sq, "rq": f1,
            "tp": tp, "fp": fp, "fn": fn, "n_true": n_true, "n_pred": n_pred, "count_error": n_pred - n_true,
            "count_rel_error": (n_pred - n_true) / n_true if n_true else nan}


def instance_scores(true: np.ndarray, pred: np.ndarray, scores: dict[int, float] | None = None) -> dict:
    """All instance metrics of one image pair."""
    metrics = InstanceMetrics()
    metrics.update(true, pred, scores=scores)
    return metrics.compute()
