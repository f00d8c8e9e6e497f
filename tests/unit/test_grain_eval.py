"""Grain-level evaluation: instance metrics and the size-distribution error that the promotion rule checks
(the rule itself: tests/unit/test_promotion.py)."""
from __future__ import annotations

import numpy as np
from skimage.draw import disk

from grainloop.schema import binary_schema
from ml.grain_eval import SIZE_ERROR, grain_metrics, uncut_diameters

SCHEMA = binary_schema()


def _discs(radius: int, centres, shape=(128, 128)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for c in centres:
        mask[disk(c, radius, shape=shape)] = 1
    return mask


CENTRES = [(30, 30), (30, 90), (90, 30), (90, 90)]


def test_a_perfect_prediction_has_no_size_error():
    truth = {"a": _discs(12, CENTRES)}
    m = grain_metrics(truth, {"a": truth["a"].copy()}, SCHEMA)
    assert m[SIZE_ERROR] == 0.0 and m["size_wasserstein_px"] == 0.0
    assert m["grains/f1"] == 1.0 and m["grains/n_true"] == 4 and m["grains/count_error"] == 0


def test_shrunken_grains_are_far_in_size_and_count_as_misses():
    truth = {"a": _discs(12, CENTRES)}
    small = grain_metrics(truth, {"a": _discs(6, CENTRES)}, SCHEMA)
    assert small[SIZE_ERROR] == 1.0  # every predicted grain smaller than every true one
    assert 11 < small["size_wasserstein_px"] < 13  # ECD 2r: about 24 against 12 px
    assert small["grains/f1"] == 0.0  # IoU 0.25 < 0.5: no match


def test_grains_cut_by_the_border_are_left_out_of_the_sizes():
    labels = np.zeros((64, 64), np.int32)
    labels[0:10, 20:30] = 1  # touches the top edge
    labels[30:40, 30:40] = 2
    assert np.allclose(uncut_diameters(labels), [np.sqrt(4 * 100 / np.pi)])

