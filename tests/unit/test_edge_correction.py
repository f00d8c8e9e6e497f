"""Miles-Lantuejoul edge correction: weights counted by hand, and the bias it removes on fields of large grains."""
import numpy as np
import pandas as pd
import pytest

from ml.box import Box
from ml.edge_correction import Placements, miles_lantuejoul_weights, number_weights, weight_check
from ml.instances import edge_mask
from ml.iso9276 import size_statistics
from tests.grain_fields import measured_fields


def test_weights_on_a_plain_frame_by_hand():
    # 100 x 120 image: the pixels off the border are 98 x 118; a 10 x 20 box has 89 x 99 positions among them
    w = miles_lantuejoul_weights((100, 120), None, [1, 10, 10], [1, 20, 20], [False, False, True])
    assert w.tolist() == pytest.approx([1.0, 98 * 118 / (89 * 99), 0.0])


def test_banner_strip_and_banner_box_count_positions_like_brute_force():
    for banner in (Box(90, 100, 0, 120), Box(80, 100, 0, 40)):  # across the bottom; in a corner
        allowed = ~edge_mask((100, 120), banner)
        placements = Placements((100, 120), banner)
        assert (placements.rectangle is not None) == (banner.x1 == 120)
        for h, w in ((1, 1), (7, 3), (30, 50), (85, 10)):
            brute = sum(allowed[r:r + h, c:c + w].all() for r in range(100 - h + 1) for c in range(120 - w + 1))
            assert placements(h, w) == brute


def test_number_weights_choices():
    t = pd.DataFrame({"edge_weight": [0.0, 1.5], "cut_by_edge": [True, False]})
    assert number_weights(t).tolist() == [0.0, 1.5] and number_weights(t, False).tolist() == [0.0, 1.0]
    assert number_weights(t, False, include_cut=True).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="--no-edge-correction"):
        number_weights(t, True, include_cut=True)


def test_correction_removes_the_bias_against_large_grains():
    # 100 fields of 256 x 256 px cut from planes of discs with log-normal diameters, median 50 px and log sd 0.5
    # (true D50 50, D90 50 exp(1.2816 * 0.5) = 94.9 px): large against the frame, so over half are cut.
    # Measured, seed 0 (about 400 whole grains of 960): whole grains unweighted D50 44.7, D90 85.1 px (11% and 10%
    # low); Miles-Lantuejoul D50 51.9, D90 97.3 px (4% and 3% high). Over seeds 0-4 the unweighted D50 averages
    # 44.1 (-12%) and D90 79.6 (-16%), the corrected ones 49.6 (-1%) and 96.0 (+1%).
    g = measured_fields(100, (256, 256), 50.0, 0.5, seed=0, cover=0.35)
    d = g["ecd_px"].to_numpy()
    plain = size_statistics(d, number_weights(g, edge_correction=False))["weightings"]["number"]
    corrected = size_statistics(d, number_weights(g))["weightings"]["number"]
    true_d50, true_d90 = 50.0, 50.0 * np.exp(1.2816 * 0.5)
    assert plain["d50"] < 0.92 * true_d50 and plain["d90"] < 0.92 * true_d90  # biased low
    assert corrected["d50"] == pytest.approx(true_d50, rel=0.05)
    assert corrected["d90"] == pytest.approx(true_d90, rel=0.1)
    assert abs(corrected["d50"] - true_d50) < abs(plain["d50"] - true_d50) / 2
    assert abs(corrected["d90"] - true_d90) < abs(plain["d90"] - true_d90) / 2


def test_heavy_weights_are_flagged():
    light = weight_check(np.r_[np.ones(98), 1.5, 0.0])
    assert light["warning"] is None and light["heavy_grains"] == 0 and light["max_weight"] == 1.5
    # one grain nearly the frame's size weighing 50 against 100 light grains: a third of the corrected count
    heavy = weight_check(np.r_[np.ones(100), 50.0])
    assert heavy["heavy_grains"] == 1 and heavy["heavy_share"] == pytest.approx(50 / 150)
    assert "1 grain(s) spanning over half the frame carry 33%" in heavy["warning"]
