"""STAPLE mask fusion: known answers on simulated raters, edge cases, and the ``staple`` policy."""
from __future__ import annotations

import numpy as np
import pytest

from labeling.policy import Candidate, check_policy, choose, majority
from labeling.staple import staple

SHAPE = (256, 256)


def _rate(truth: np.ndarray, confusion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One simulated rater: each pixel's label drawn independently from the confusion row of its true class."""
    cumulative = np.cumsum(confusion, axis=1)[truth]  # (H, W, classes)
    return (rng.random(truth.shape)[..., None] > cumulative[..., :-1]).sum(axis=-1).astype(np.uint8)


def _binary(sensitivity: float, specificity: float) -> np.ndarray:
    return np.array([[specificity, 1 - specificity], [1 - sensitivity, sensitivity]])


def _candidates(masks) -> list[Candidate]:
    return [Candidate({"id": i, "updated_at": f"2026-01-01T00:00:0{i}Z"}, m) for i, m in enumerate(masks, start=1)]


@pytest.mark.parametrize("performance", [
    [(0.95, 0.95), (0.9, 0.92), (0.6, 0.7)],
    [(0.9, 0.92), (0.85, 0.9), (0.92, 0.85), (0.8, 0.88), (0.6, 0.65)],
])  # (sensitivity, specificity) per rater; the last one is poor
def test_binary_known_answer_with_one_poor_rater(performance):
    rng = np.random.default_rng(15)
    truth = (rng.random(SHAPE) < 0.3).astype(np.uint8)
    raters = np.stack([_rate(truth, _binary(se, sp), rng) for se, sp in performance])
    result = staple(raters, 2)
    assert result.converged
    np.testing.assert_allclose(result.sensitivity, [se for se, _ in performance], atol=0.02)
    np.testing.assert_allclose(result.specificity, [sp for _, sp in performance], atol=0.02)
    fused = (result.labels == truth).mean()
    best_single = max((r == truth).mean() for r in raters)
    voted = (majority(_candidates(raters), 2) == truth).mean()
    assert fused > best_single + 0.005 and fused >= voted


def test_three_class_known_answer():
    rng = np.random.default_rng(7)
    truth = rng.choice(3, size=SHAPE, p=[0.5, 0.3, 0.2]).astype(np.uint8)
    confusions = np.array([
        [[0.9, 0.06, 0.04], [0.08, 0.85, 0.07], [0.05, 0.1, 0.85]],
        [[0.85, 0.1, 0.05], [0.05, 0.9, 0.05], [0.1, 0.05, 0.85]],
        [[0.92, 0.04, 0.04], [0.1, 0.8, 0.1], [0.04, 0.06, 0.9]],
        [[0.7, 0.2, 0.1], [0.2, 0.65, 0.15], [0.15, 0.15, 0.7]],
    ])
    raters = np.stack([_rate(truth, c, rng) for c in confusions])
    result = staple(raters, 3)
    assert result.converged
    np.testing.assert_allclose(result.confusion, confusions, atol=0.02)
    np.testing.assert_allclose(result.priors, [0.5, 0.3, 0.2], atol=0.01)
    assert (result.labels == truth).mean() > max((r == truth).mean() for r in raters)
    with pytest.raises(ValueError, match="two classes"):
        result.sensitivity


def test_edge_cases():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 2, (32, 32)).astype(np.uint8)
    single = staple(mask[None], 3)
    assert np.array_equal(single.labels, mask) and single.labels.dtype == np.uint8
    same = staple(np.stack([mask] * 3), 3)  # identical raters; class 2 absent from every rater
    assert np.array_equal(same.labels, mask) and same.converged
    np.testing.assert_allclose(same.confusion[:, :2, :2], np.broadcast_to(np.eye(2), (3, 2, 2)), atol=1e-6)
    np.testing.assert_allclose(same.confusion[:, 2], 1 / 3)  # no information on an absent class: uniform row
    assert same.priors[2] == 0 and np.isfinite(same.confusion).all()
    empty = staple(np.zeros((2, 8, 8), np.uint8), 2)
    assert not empty.labels.any() and np.isfinite(empty.confusion).all()
    with pytest.raises(ValueError, match="0..1"):
        staple(np.stack([mask, mask + 1]), 2)


def test_staple_policy_returns_every_id_and_is_listed():
    rng = np.random.default_rng(3)
    masks = [rng.integers(0, 2, (16, 16)).astype(np.uint8) for _ in range(3)]
    fused, used = choose(_candidates(masks), "staple", 2)
    assert used == [1, 2, 3] and np.array_equal(fused, staple(np.stack(masks), 2).labels)
    alone, used = choose(_candidates(masks[:1]), "staple", 2)
    assert used == [1] and alone is masks[0]
    assert check_policy("staple") == "staple"
    with pytest.raises(ValueError, match="staple"):
        check_policy("best")


def test_sorted_patterns_match_the_dense_count(monkeypatch):
    rng = np.random.default_rng(5)
    raters = rng.integers(0, 3, (4, 40, 40)).astype(np.uint8)
    dense = staple(raters, 3)
    monkeypatch.setattr("labeling.staple.DENSE_PATTERNS", 1)  # forces np.unique over the label tuples
    sorted_ = staple(raters, 3)
    assert np.array_equal(dense.labels, sorted_.labels)
    np.testing.assert_allclose(dense.confusion, sorted_.confusion)
