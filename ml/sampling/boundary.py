"""Boundary uncertainty: mean pixel entropy inside a band around the predicted class boundaries, so images
whose doubt sits on grain edges (where splitting and outlining go wrong) come first. No boundary: 0."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.segmentation import find_boundaries

from ml.sampling.base import Candidate, ImageStrategy, pixel_entropy, unit_mean


@dataclass
class Boundary(ImageStrategy):
    width: int = 3  # the band reaches this many pixels from an edge
    name = "boundary"

    def score(self, probs: np.ndarray, context: Candidate) -> float:
        edges = find_boundaries(probs.argmax(0), connectivity=1, mode="thick")  # a 4-neighbour of another class
        band = ndimage.binary_dilation(edges, iterations=self.width) if self.width > 0 else edges
        return unit_mean(pixel_entropy(probs), band)
