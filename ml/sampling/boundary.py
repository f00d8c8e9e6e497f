"""Boundary uncertainty: mean pixel entropy inside a band around the predicted class boundaries, so images
whose doubt sits on grain edges (where splitting and outlining go wrong) come first. No boundary: 0."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ml.sampling.base import Candidate, ImageStrategy, pixel_entropy, unit_mean


def class_edges(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels with a 4-neighbour of another class."""
    edges = np.zeros(labels.shape, bool)
    dy, dx = labels[1:] != labels[:-1], labels[:, 1:] != labels[:, :-1]
    edges[1:] |= dy
    edges[:-1] |= dy
    edges[:, 1:] |= dx
    edges[:, :-1] |= dx
    return edges


@dataclass
class Boundary(ImageStrategy):
    width: int = 3  # the band reaches this many pixels from an edge
    name = "boundary"

    def score(self, probs: np.ndarray, context: Candidate) -> float:
        edges = class_edges(probs.argmax(0))
        band = ndimage.binary_dilation(edges, iterations=self.width) if self.width > 0 else edges
        return unit_mean(pixel_entropy(probs), band)
