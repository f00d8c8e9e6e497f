"""Typical images from regions of the pool no label covers yet, for a small labelling budget (TypiClust, Hacohen,
Dekel & Weinshall 2022, "Active learning on a budget"): with few labels, the images a model is unsure of are often
outliers, and a batch of typical, mutually different images teaches it more. The pooled encoder embeddings of the
labeled and unlabeled images are clustered into (labeled + k) groups by k-means; each pick takes the group with the
fewest labeled or picked images (the largest first among equals) and, in it, the image with the densest
neighbourhood (typicality: 1 / mean distance to its nearest neighbours in the group)."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from ml.sampling.base import Candidate, unit_embeddings


def typicality(points: np.ndarray, neighbours: int) -> np.ndarray:
    """Per point, 1 / (mean distance to its ``neighbours`` nearest other points); 1 for a point alone."""
    from sklearn.neighbors import NearestNeighbors

    if len(points) < 2:
        return np.ones(len(points))
    n = min(neighbours, len(points) - 1)
    dist, _ = NearestNeighbors(n_neighbors=n + 1).fit(points).kneighbors(points)
    return 1.0 / np.maximum(dist[:, 1:].mean(1), 1e-12)  # column 0: the point itself


def clusters(points: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A k-means group per point (n groups at most, seeded)."""
    from sklearn.cluster import KMeans

    n = min(n, len(points))
    if n <= 1:
        return np.zeros(len(points), int)
    return KMeans(n_clusters=n, n_init=10, random_state=seed).fit_predict(points)


@dataclass
class TypiClust:
    seed: int = 0  # seeds the k-means
    neighbours: int = 20  # nearest neighbours whose mean distance defines typicality
    max_groups: int = 500  # as the authors' code: ranking a whole pool then takes several images a group
    name: ClassVar[str] = "typiclust"
    needs: ClassVar[tuple[str, ...]] = ("embedding",)
    ranks_by_score: ClassVar[bool] = False

    def score(self, probs: np.ndarray | None, context: Candidate) -> float:
        """No per-image score: typicality is relative to the pool, so ``rank`` scores by the batch's order."""
        return 0.0

    def select(self, candidates: Sequence[Candidate], k: int, rng: np.random.Generator | None = None,
               labeled: Sequence[Candidate] = ()) -> list[str]:
        pool = sorted(candidates, key=lambda c: c.id)
        if not pool or k <= 0:
            return []
        points = unit_embeddings(pool, self.name)
        if labeled:
            points = np.concatenate([points, unit_embeddings(labeled, self.name)])
        group = clusters(points, min(len(labeled) + k, self.max_groups), self.seed)
        typical = np.zeros(len(points))
        for g in np.unique(group):  # labeled members count too: they make the neighbourhood
            members = np.flatnonzero(group == g)
            typical[members] = typicality(points[members], self.neighbours)
        taken = np.bincount(group[len(pool):], minlength=group.max() + 1)
        size = np.bincount(group, minlength=group.max() + 1)
        queues: dict[int, deque[int]] = {}  # per group, its pool images, the most typical first (ties: first id)
        for i in np.lexsort((np.arange(len(pool)), -typical[: len(pool)])):
            queues.setdefault(int(group[i]), deque()).append(int(i))
        chosen: list[str] = []
        for _ in range(min(k, len(pool))):
            g = min(queues, key=lambda x: (taken[x], -size[x], x))
            chosen.append(pool[queues[g].popleft()].id)
            taken[g] += 1
            if not queues[g]:
                del queues[g]
        return chosen
