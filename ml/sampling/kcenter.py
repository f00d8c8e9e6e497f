"""Uncertainty plus diversity for a batch: among the ``pool_factor * k`` most uncertain images (mean entropy),
greedy k-center on pooled encoder embeddings, each image's distance to the nearest labeled or already picked
image weighted by its uncertainty, so a batch is not k near-copies of one hard image (core-set selection,
Sener & Savarese 2018, after an uncertainty filter as in suggestive annotation, Yang et al. 2017)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ml.sampling.base import Candidate, by_score, unit_embeddings
from ml.sampling.entropy import Entropy


def greedy_k_center(points: np.ndarray, centres: np.ndarray, k: int, weights: np.ndarray | None = None) -> list[int]:
    """Indices of k points, each maximising weight x distance to the nearest centre or chosen point (with
    nothing to be near, the largest weight; ties to the lower index). Unit weights: plain greedy k-center."""
    weights = np.ones(len(points)) if weights is None else np.asarray(weights, np.float64)
    dist = np.full(len(points), np.inf if len(centres) else 1.0)
    for c in centres:
        dist = np.minimum(dist, np.linalg.norm(points - c, axis=1))
    chosen: list[int] = []
    for _ in range(min(k, len(points))):
        gain = np.where(np.isinf(dist), weights, weights * dist)
        gain[chosen] = -np.inf
        chosen.append(int(np.argmax(gain)))
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return chosen


@dataclass
class KCenter(Entropy):
    pool_factor: float = 3.0  # k-center runs on this many times k of the most uncertain images
    name = "kcenter"
    needs = ("probs", "embedding")
    ranks_by_score = False

    def select(self, candidates: Sequence[Candidate], k: int, rng: np.random.Generator | None = None,
               labeled: Sequence[Candidate] = ()) -> list[str]:
        ranked = by_score(self, candidates)[: max(k, math.ceil(k * self.pool_factor))]
        by_id = {c.id: c for c in candidates}
        points = unit_embeddings([by_id[i] for i, _ in ranked], self.name)
        chosen = greedy_k_center(points, unit_embeddings(labeled, self.name), k, np.array([s for _, s in ranked]))
        return [ranked[j][0] for j in chosen]
