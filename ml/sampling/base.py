"""The contract every sampling strategy follows, and the helpers most of them share.

A strategy has a ``name``, the inputs it ``needs`` from a prediction ("probs", "tta", "embedding"),
``score(probs, context) -> float`` (one image, higher = more informative, in [0, 1]) and
``select(candidates, k, rng, labeled) -> ids`` (a batch). Per-image strategies subclass ``ImageStrategy``
and write ``score`` only; batch strategies (k-center) write ``select`` too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Sequence

import numpy as np


@dataclass
class Candidate:
    """One unlabeled image as the champion saw it. ``probs`` may be dropped once ``scores`` holds what the
    strategies need (``summarize``), so a large pool fits in memory."""

    id: str
    # (K, H, W) class probabilities of the plain prediction
    probs: np.ndarray | None = field(default=None, repr=False)
    # (K, H, W) probabilities of each flip, flipped back (the plain prediction first)
    tta: tuple[np.ndarray, ...] = field(default=(), repr=False)
    embedding: np.ndarray | None = field(default=None, repr=False)  # (D,) pooled encoder features
    scores: dict[str, float] = field(default_factory=dict)  # per-strategy scores computed earlier


class Strategy(Protocol):
    name: str
    needs: tuple[str, ...]
    ranks_by_score: bool  # select() orders by score(), so scores fall along a ranking

    def score(self, probs: np.ndarray, context: Candidate) -> float: ...

    def select(self, candidates: Sequence[Candidate], k: int, rng: np.random.Generator | None = None,
               labeled: Sequence[Candidate] = ()) -> list[str]: ...


def score_of(strategy: Strategy, candidate: Candidate) -> float:
    """The candidate's score: stored by ``summarize`` or computed from its probabilities."""
    if strategy.name in candidate.scores:
        return candidate.scores[strategy.name]
    if candidate.probs is None and "probs" in strategy.needs:
        raise ValueError(f"candidate {candidate.id!r} has no probabilities and no {strategy.name!r} score")
    return float(strategy.score(candidate.probs, candidate))


def by_score(strategy: Strategy, candidates: Sequence[Candidate]) -> list[tuple[str, float]]:
    """(id, score) from the highest score down; ties by id, so the order never depends on input order."""
    pairs = [(c.id, score_of(strategy, c)) for c in candidates]
    return sorted(pairs, key=lambda p: (-p[1], p[0]))


@dataclass
class ImageStrategy:
    """A strategy that scores each image alone: the batch is the k best scores."""

    seed: int = 0  # for strategies that draw at random
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("probs",)
    ranks_by_score: ClassVar[bool] = True

    def score(self, probs: np.ndarray, context: Candidate) -> float:
        raise NotImplementedError

    def select(self, candidates: Sequence[Candidate], k: int, rng: np.random.Generator | None = None,
               labeled: Sequence[Candidate] = ()) -> list[str]:
        return [i for i, _ in by_score(self, candidates)[:k]]


def pixel_entropy(probs: np.ndarray) -> np.ndarray:
    """(H, W) entropy of (K, H, W) probabilities divided by log K: 0 certain, 1 uniform."""
    p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(0) / np.log(max(len(probs), 2))


def unit_embeddings(candidates: Sequence[Candidate], strategy: str) -> np.ndarray:
    """(N, D) embeddings scaled to unit length, (0, 1) for no candidate; a candidate without one is an error."""
    missing = [c.id for c in candidates if c.embedding is None]
    if missing:
        raise ValueError(f"strategy {strategy!r} needs embeddings (candidates with embed=True); none for {missing[:5]}")
    e = np.stack([np.asarray(c.embedding, np.float64).ravel() for c in candidates]) if candidates else np.zeros((0, 1))
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def unit_mean(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The (weighted) mean clipped to [0, 1]; 0 when there is nothing to average."""
    total = values.size if weights is None else float(weights.sum())
    if total == 0:
        return 0.0
    s = values.sum() if weights is None else float((values * weights).sum())
    return float(np.clip(s / total, 0.0, 1.0))
