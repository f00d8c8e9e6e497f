"""Random sampling: the baseline the other strategies must beat. Seeded, and independent of the pool's order:
each image gets a uniform score from a hash of (seed, id), so a campaign labels a fixed random permutation."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ml.sampling.base import Candidate, ImageStrategy


@dataclass
class RandomStrategy(ImageStrategy):
    name = "random"
    needs = ()

    def score(self, probs: np.ndarray | None, context: Candidate) -> float:
        digest = hashlib.sha256(f"{self.seed}:{context.id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64
