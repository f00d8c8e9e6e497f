"""Several annotations on one task: which mask wins, and how much the annotators agree.

Policies: ``latest`` (the most recently updated annotation), ``reviewed`` (the latest reviewed one, a ground
truth or an accepted review, if any, else the latest), ``majority`` (pixel-wise vote; a tie goes to the latest
annotation) and ``staple`` (STAPLE: a vote weighted by each annotator's estimated confusion matrix, see
``labeling/staple.py``). Agreement is the IoU per class averaged over every pair of annotations.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from labeling.staple import staple

POLICIES = ("latest", "reviewed", "majority", "staple")
REVIEWED_ACTIONS = {"accepted", "fixed_and_accepted"}


@dataclass(frozen=True)
class Candidate:
    annotation: dict[str, Any]
    mask: np.ndarray

    @property
    def updated_at(self) -> str:
        return str(self.annotation.get("updated_at") or self.annotation.get("created_at") or "")

    @property
    def reviewed(self) -> bool:
        a = self.annotation
        return bool(a.get("ground_truth")) or a.get("last_action") in REVIEWED_ACTIONS or bool(a.get("reviewed"))


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"unknown annotation policy {policy!r}; choose one of {', '.join(POLICIES)}")
    return policy


def check_agreement(threshold: float | None) -> float | None:
    """A hold-back threshold: None (never hold) or a mean per-class IoU in [0, 1]."""
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"the agreement threshold is a mean IoU between 0 and 1, got {threshold}")
    return threshold


def latest(candidates: list[Candidate]) -> Candidate:
    return max(candidates, key=lambda c: (c.updated_at, c.annotation.get("id", 0)))


def majority(candidates: list[Candidate], n_values: int) -> np.ndarray:
    """Pixel-wise most frequent value; ties keep the latest annotation's value."""
    counts = np.stack([sum((c.mask == v).astype(np.int32) for c in candidates) for v in range(n_values)])
    tie_break = latest(candidates).mask
    best = counts.max(axis=0)
    keep = np.take_along_axis(counts, tie_break[None].astype(np.intp), 0)[0] == best
    return np.where(keep, tie_break, counts.argmax(axis=0)).astype(np.uint8)


def staple_fusion(candidates: list[Candidate], n_values: int) -> np.ndarray:
    """The STAPLE fused mask of all candidates."""
    return staple(np.stack([c.mask for c in candidates]), n_values).labels


FUSIONS = {"majority": majority, "staple": staple_fusion}  # policies that combine every annotation


def choose(candidates: list[Candidate], policy: str, n_values: int) -> tuple[np.ndarray, list[int]]:
    """The winning mask and the ids of the annotations it comes from."""
    if policy in FUSIONS and len(candidates) > 1:
        return FUSIONS[policy](candidates, n_values), [c.annotation["id"] for c in candidates]
    pool = [c for c in candidates if c.reviewed] if policy == "reviewed" else []
    winner = latest(pool or candidates)
    return winner.mask, [winner.annotation["id"]]


def iou(a: np.ndarray, b: np.ndarray) -> float | None:
    """IoU of two boolean masks; None when both are empty."""
    union = np.count_nonzero(a | b)
    return None if union == 0 else np.count_nonzero(a & b) / union


def mean_iou(a: np.ndarray, b: np.ndarray, n_values: int) -> float | None:
    """Mean IoU over the classes (1..K) present in either mask; None if neither has any."""
    scores = [s for k in range(1, n_values) if (s := iou(a == k, b == k)) is not None]
    return float(np.mean(scores)) if scores else None


def agreement(candidates: list[Candidate], class_names: tuple[str, ...]) -> dict[str, float | None]:
    """Per-class IoU averaged over all annotation pairs (None: fewer than two annotations or class absent)."""
    out: dict[str, float | None] = {}
    for k, name in enumerate(class_names[1:], start=1):
        scores = [s for a, b in combinations(candidates, 2) if (s := iou(a.mask == k, b.mask == k)) is not None]
        out[name] = float(np.mean(scores)) if scores else None
    return out
