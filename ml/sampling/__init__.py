"""Active-learning sampling: which unlabeled images a person should label next.

The contract (``ml.sampling.base``): a strategy scores one image's class probabilities (``score``, higher =
more informative, in [0, 1]) and picks a batch (``select``). The flow predicts each unlabeled image once with
the champion (``ml.sampling.features``), then calls ``rank`` and sends the scores along with the
pre-annotations. A new strategy is one short module and one line in ``STRATEGIES``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from ml.sampling.base import Candidate, ImageStrategy, Strategy, by_score, score_of
from ml.sampling.boundary import Boundary
from ml.sampling.entropy import Entropy
from ml.sampling.kcenter import KCenter
from ml.sampling.margin import Margin
from ml.sampling.random_ import RandomStrategy
from ml.sampling.tta import FlipDisagreement
from ml.sampling.typiclust import TypiClust

__all__ = ["STRATEGIES", "Candidate", "ImageStrategy", "Strategy", "get_strategy", "rank", "score_of", "summarize"]

STRATEGIES: dict[str, type] = {
    "random": RandomStrategy,
    "entropy": Entropy,
    "margin": Margin,
    "tta": FlipDisagreement,
    "boundary": Boundary,
    "kcenter": KCenter,
    "typiclust": TypiClust,
}


def get_strategy(name: str, seed: int = 0) -> Strategy:
    """A strategy by name; an unknown name is an error that lists the valid ones."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown sampling strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](seed=seed)


def rank(strategy: Strategy | str, candidates: Sequence[Candidate], rng: np.random.Generator | None = None,
         labeled: Sequence[Candidate] = ()) -> list[tuple[str, float]]:
    """Every candidate as (id, score), most informative first. Per-image strategies give their scores; batch
    strategies (k-center) give 1 - position / n, so scores always fall along the ranking and stay in (0, 1]."""
    strategy = get_strategy(strategy) if isinstance(strategy, str) else strategy
    if strategy.ranks_by_score:
        return by_score(strategy, candidates)
    order = strategy.select(candidates, len(candidates), rng, labeled)
    return [(i, 1.0 - j / len(order)) for j, i in enumerate(order)]


def summarize(candidate: Candidate, strategies: Sequence[Strategy]) -> Candidate:
    """The candidate with its scores for these strategies stored and its probability maps dropped."""
    scores = {**candidate.scores, **{s.name: score_of(s, candidate) for s in strategies}}
    return replace(candidate, probs=None, tta=(), scores=scores)
