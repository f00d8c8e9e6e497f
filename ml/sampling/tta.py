"""Flip test-time-augmentation disagreement: how much the predictions of the flipped inputs differ, as the
mean per-pixel mutual information between flip and class (entropy of the mean minus mean entropy, over log K).
0 when all flips agree; high where the model changes its mind under a flip."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.sampling.base import Candidate, ImageStrategy, pixel_entropy, unit_mean


@dataclass
class FlipDisagreement(ImageStrategy):
    name = "tta"
    needs = ("probs", "tta")

    def score(self, probs: np.ndarray, context: Candidate) -> float:
        if len(context.tta) < 2:
            raise ValueError(f"strategy 'tta' needs flip-TTA probabilities for {context.id!r}: "
                             "compute candidates with tta=True")
        members = np.stack(context.tta)
        mean_entropy = np.mean([pixel_entropy(m) for m in members], axis=0)
        return unit_mean(pixel_entropy(members.mean(0)) - mean_entropy)
