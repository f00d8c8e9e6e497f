"""STAPLE: fuse several raters' label maps and estimate each rater's performance (Warfield, Zou, Wells 2004).

Multi-class EM over pixels. Each rater j has a confusion matrix ``theta[j, t, a]`` = P(rater assigns a | truth t);
the class priors start at the raters' mean label frequencies and are re-estimated with the matrices (fixed
priors bias the estimates whenever a poor rater over- or under-labels a class). The posterior of the truth
depends only on the tuple of labels the raters gave a pixel, so the EM runs over the distinct tuples (at
most ``n_values ** raters``) weighted by their pixel counts: exact, and fast on 2048 x 2048 maps. It starts
from the soft majority vote (each class's share of the raters) and stops when no confusion entry or prior
moves by more than ``tol``.

Contract: ``staple(labels, n_values)`` with ``labels`` of shape (raters, ...) holding 0..n_values-1 returns a
``StapleResult``: the fused map (argmax of the posterior, ties to the lower class) and the confusion matrices.
A class that no rater uses has prior 0 (never chosen) and, as true class, a uniform confusion row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-10  # added to every confusion count, so no row is zero and no log is -inf
DENSE_PATTERNS = 1 << 22  # up to this many possible label tuples, count them with bincount instead of a sort


@dataclass(frozen=True)
class StapleResult:
    labels: np.ndarray  # the fused label map, the shape of one rater's map
    confusion: np.ndarray  # (raters, true, assigned): P(the rater assigns `assigned` | the truth is `true`)
    priors: np.ndarray  # (n_values,): the estimated class frequencies
    iterations: int
    converged: bool

    @property
    def sensitivity(self) -> np.ndarray:
        """Per rater, P(assigns 1 | truth 1); binary maps only."""
        return self._binary()[:, 1, 1]

    @property
    def specificity(self) -> np.ndarray:
        """Per rater, P(assigns 0 | truth 0); binary maps only."""
        return self._binary()[:, 0, 0]

    def _binary(self) -> np.ndarray:
        if self.confusion.shape[1] != 2:
            raise ValueError(f"sensitivity and specificity need two classes, not {self.confusion.shape[1]}")
        return self.confusion


def staple(labels: np.ndarray, n_values: int, max_iter: int = 1000, tol: float = 1e-6) -> StapleResult:
    """Fuse ``labels`` (raters, ...) of values 0..n_values-1 by STAPLE."""
    labels = np.asarray(labels)
    if labels.ndim < 2 or labels.shape[0] < 1:
        raise ValueError(f"STAPLE needs a stack of label maps (raters, ...), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_values):
        raise ValueError(f"label values must lie in 0..{n_values - 1}")
    flat = labels.reshape(labels.shape[0], -1).astype(np.int64)
    patterns, counts, inverse = _patterns(flat, n_values)
    onehots = [np.eye(n_values)[patterns[:, j]] for j in range(flat.shape[0])]  # each (P, n_values)
    priors = sum(counts @ onehot for onehot in onehots) / max(1, counts.sum() * len(onehots))
    posterior = (sum(onehots) / len(onehots)).T  # (n_values, P): the soft majority vote
    theta = _confusion(posterior, counts, onehots)
    converged, iterations = False, 0
    while not converged and iterations < max_iter:
        iterations += 1
        posterior = _posterior(theta, priors, patterns)
        new_theta = _confusion(posterior, counts, onehots)
        new_priors = posterior @ counts / max(1.0, counts.sum())
        converged = bool(max(np.abs(new_theta - theta).max(), np.abs(new_priors - priors).max()) < tol)
        theta, priors = new_theta, new_priors
    fused = _posterior(theta, priors, patterns).argmax(axis=0)[inverse]
    dtype = np.uint8 if n_values <= 256 else np.int64
    return StapleResult(fused.reshape(labels.shape[1:]).astype(dtype), theta, priors, iterations, converged)


def _patterns(flat: np.ndarray, n_values: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct label tuples (P, raters), their pixel counts (P,) and each pixel's tuple index (N,)."""
    raters = flat.shape[0]
    if n_values ** raters <= DENSE_PATTERNS:
        codes = sum(flat[j] * n_values ** j for j in range(raters))
        tally = np.bincount(codes, minlength=n_values ** raters)
        present = np.flatnonzero(tally)
        index = np.zeros(n_values ** raters, np.int64)
        index[present] = np.arange(present.size)
        patterns = np.stack([(present // n_values ** j) % n_values for j in range(raters)], axis=1)
        return patterns, tally[present].astype(np.float64), index[codes]
    patterns, inverse, counts = np.unique(flat.T, axis=0, return_inverse=True, return_counts=True)
    return patterns, counts.astype(np.float64), inverse.reshape(-1)


def _confusion(posterior: np.ndarray, counts: np.ndarray, onehots: list[np.ndarray]) -> np.ndarray:
    """M-step: theta[j, t, a] from the posterior (n_values, P), with EPS so that no row is zero."""
    weighted = posterior * counts
    theta = np.stack([weighted @ onehot for onehot in onehots]) + EPS
    return theta / theta.sum(axis=2, keepdims=True)


def _posterior(theta: np.ndarray, priors: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """E-step: P(truth | the tuple) as (n_values, P), computed in logs."""
    with np.errstate(divide="ignore"):
        log = np.log(priors)[:, None] + sum(np.log(theta[j][:, patterns[:, j]]) for j in range(theta.shape[0]))
    log -= log.max(axis=0, keepdims=True)
    weights = np.exp(log)
    return weights / weights.sum(axis=0, keepdims=True)
