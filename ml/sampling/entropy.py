"""Mean pixel entropy: how unsure the model is over the whole image (0 certain, 1 uniform over the classes)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.sampling.base import Candidate, ImageStrategy, pixel_entropy, unit_mean


@dataclass
class Entropy(ImageStrategy):
    name = "entropy"

    def score(self, probs: np.ndarray, context: Candidate) -> float:
        return unit_mean(pixel_entropy(probs))
