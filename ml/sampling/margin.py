"""Margin: 1 - (p1 - p2) averaged over pixels, p1 and p2 the two largest class probabilities of a pixel
(0 when every pixel is certain, 1 when the top two classes tie everywhere)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.sampling.base import Candidate, ImageStrategy, unit_mean


@dataclass
class Margin(ImageStrategy):
    name = "margin"

    def score(self, probs: np.ndarray, context: Candidate) -> float:
        if len(probs) < 2:
            raise ValueError(f"margin needs at least 2 classes, got probabilities of shape {probs.shape}")
        top2 = np.partition(probs, -2, axis=0)[-2:]
        return unit_mean(1.0 - (top2[1] - top2[0]))
