"""Tests for ml.metrics with hand-made arrays and exact expected values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ml.metrics import SegmentationMetrics

IGNORE = 255


def _half_and_three_quarters() -> tuple[np.ndarray, np.ndarray]:
    """4x4 target: left 2 columns class 1; pred: left 3 columns class 1."""
    target = np.zeros((4, 4), dtype=np.int64)
    target[:, :2] = 1
    pred = np.zeros((4, 4), dtype=np.int64)
    pred[:, :3] = 1
    return pred, target


def _square(size: int, y0: int, x0: int, side: int) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[y0 : y0 + side, x0 : x0 + side] = 1
    return mask


def _blocky(rng: np.random.Generator, num_classes: int) -> np.ndarray:
    return np.kron(rng.integers(0, num_classes, (4, 4)), np.ones((8, 8), dtype=np.int64))


def test_perfect_prediction_scores_one() -> None:
    target = np.kron(np.array([[0, 1], [2, 1]]), np.ones((8, 8), dtype=np.int64))
    m = SegmentationMetrics(3, ["bg", "quartz", "feldspar"])
    m.update(target.copy(), target, "a")
    out = m.compute()
    for key in ("iou/bg", "iou/quartz", "dice/feldspar", "mean_iou", "mean_fg_iou", "pixel_accuracy"):
        assert out[key] == 1.0
    assert out["boundary_f1/quartz"] == 1.0 and out["boundary_f1"] == 1.0
    assert out["n_images"] == 1


def test_partial_overlap_exact_values() -> None:
    pred, target = _half_and_three_quarters()
    m = SegmentationMetrics(2)
    m.update(pred, target)
    out = m.compute()
    assert out["iou/class_1"] == pytest.approx(8 / 12)
    assert out["dice/class_1"] == pytest.approx(16 / 20)
    assert out["iou/class_0"] == pytest.approx(4 / 8)
    assert out["dice/class_0"] == pytest.approx(8 / 12)
    assert out["mean_iou"] == pytest.approx((8 / 12 + 4 / 8) / 2)
    assert out["mean_fg_iou"] == pytest.approx(8 / 12)
    assert out["pixel_accuracy"] == pytest.approx(12 / 16)
    np.testing.assert_array_equal(m.confusion_matrix, [[4, 4], [0, 8]])


def test_ignored_pixels_are_excluded() -> None:
    pred, target = _half_and_three_quarters()
    target[:, 2] = IGNORE  # the only disagreeing column
    pred[0, 2] = 0
    m = SegmentationMetrics(2)
    out = m.update(pred, target)
    assert out["mean_iou"] == 1.0 and out["pixel_accuracy"] == 1.0
    assert m.confusion_matrix.sum() == 12


def test_ignored_banner_is_neither_scored_nor_boundary() -> None:
    target = _square(20, 4, 4, 8).astype(np.int64)
    target[14:] = IGNORE  # SEM info banner
    pred = target.copy()
    pred[14:] = np.random.default_rng(0).integers(0, 2, (6, 20))
    row = SegmentationMetrics(2).update(pred, target)
    assert row["mean_iou"] == 1.0 and row["boundary_f1"] == 1.0
    truth_only = SegmentationMetrics(2).update(target.copy(), target)
    assert row == truth_only


def test_absent_class_is_nan_and_left_out_of_means() -> None:
    pred, target = _half_and_three_quarters()
    m = SegmentationMetrics(3)
    m.update(pred, target)
    out = m.compute()
    assert math.isnan(out["iou/class_2"]) and math.isnan(out["dice/class_2"])
    assert math.isnan(out["boundary_f1/class_2"])
    assert out["mean_iou"] == pytest.approx((8 / 12 + 4 / 8) / 2)
    assert out["mean_fg_iou"] == pytest.approx(8 / 12)


def test_dataset_iou_is_global_not_mean_of_images() -> None:
    m = SegmentationMetrics(2)
    m.update(np.array([[1, 1]]), np.array([[1, 0]]), "a")  # class 1: tp 1, fp 1
    m.update(np.ones((3, 3), dtype=int), np.ones((3, 3), dtype=int), "b")  # class 1: tp 9
    assert [r["iou/class_1"] for r in m.rows] == [0.5, 1.0]
    assert m.compute()["iou/class_1"] == pytest.approx(10 / 11)
    assert [r["image_id"] for r in m.rows] == ["a", "b"]


def test_boundary_shift_within_tolerance_is_perfect() -> None:
    target = _square(40, 10, 10, 20)
    m = SegmentationMetrics(2, boundary_tolerance=2)
    row = m.update(_square(40, 11, 11, 20), target)
    assert row["boundary_f1/class_1"] == 1.0 and row["boundary_f1"] == 1.0
    assert row["iou/class_1"] < 1.0


def test_boundary_shift_beyond_tolerance_is_lower() -> None:
    target = _square(40, 10, 10, 20)
    row = SegmentationMetrics(2, boundary_tolerance=2).update(_square(40, 10, 15, 20), target)
    # Top and bottom edges overlap on 15 of 20 columns; the side edges are 5 px off.
    assert 0.0 < row["boundary_f1/class_1"] < 0.75


def test_boundary_of_class_only_in_prediction_is_zero() -> None:
    target = np.zeros((10, 10), dtype=int)
    row = SegmentationMetrics(2).update(_square(10, 2, 2, 4), target)
    assert row["boundary_f1/class_1"] == 0.0 and row["iou/class_1"] == 0.0


def test_two_images_equal_one_concatenated_image() -> None:
    rng = np.random.default_rng(0)
    targets = [_blocky(rng, 3) for _ in range(2)]
    preds = [np.where(rng.random(t.shape) < 0.1, (t + 1) % 3, t) for t in targets]
    split = SegmentationMetrics(3)
    for p, t in zip(preds, targets):
        split.update(p, t)
    gap = np.full((32, 5), IGNORE)  # wider than the boundary tolerance
    joined = SegmentationMetrics(3)
    joined.update(np.hstack([preds[0], gap, preds[1]]), np.hstack([targets[0], gap, targets[1]]))
    a, b = split.compute(), joined.compute()
    assert a.pop("n_images") == 2 and b.pop("n_images") == 1
    assert a.keys() == b.keys()
    np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(split.confusion_matrix, joined.confusion_matrix)


def test_compute_is_json_friendly_floats() -> None:
    pred, target = _half_and_three_quarters()
    m = SegmentationMetrics(2)
    m.update(pred, target)
    out = m.compute()
    assert all(type(v) is float for k, v in out.items() if k != "n_images")
    assert set(out) >= {"iou/class_0", "dice/class_1", "boundary_f1/class_1", "mean_fg_iou", "boundary_f1"}


def test_reset_clears_state() -> None:
    pred, target = _half_and_three_quarters()
    m = SegmentationMetrics(2)
    m.update(pred, target)
    m.reset()
    assert m.rows == [] and m.confusion_matrix.sum() == 0
    assert math.isnan(m.compute()["mean_iou"])


@pytest.mark.parametrize(
    ("pred", "target"),
    [
        (np.zeros((2, 2), dtype=int), np.zeros((2, 3), dtype=int)),
        (np.zeros((2, 2), dtype=int), np.full((2, 2), 7)),
        (np.full((2, 2), -1), np.zeros((2, 2), dtype=int)),
    ],
)
def test_invalid_inputs_raise(pred: np.ndarray, target: np.ndarray) -> None:
    with pytest.raises(ValueError):
        SegmentationMetrics(2).update(pred, target)


def test_class_names_length_is_checked() -> None:
    with pytest.raises(ValueError, match="class_names"):
        SegmentationMetrics(3, ["a", "b"])
