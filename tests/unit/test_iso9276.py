"""ISO 9276 statistics: moment means and weighted percentiles against values computed by hand."""
import numpy as np
import pytest

from ml.iso9276 import (iso_notation, moment_mean, moment_means, moment_rows, percentile_row, quantity_weights,
                        size_statistics)


def test_moment_means_of_a_small_set_by_hand():
    d = [1.0, 2.0, 3.0]
    m = moment_means(d, np.ones(3))
    assert m["D[1,0]"] == pytest.approx(2.0)  # (1 + 2 + 3) / 3
    assert m["D[2,0]"] == pytest.approx(np.sqrt(14 / 3))  # sqrt((1 + 4 + 9) / 3)
    assert m["D[3,0]"] == pytest.approx(12 ** (1 / 3))  # cbrt((1 + 8 + 27) / 3)
    assert m["D[3,2]"] == pytest.approx(36 / 14)  # Sauter: (1 + 8 + 27) / (1 + 4 + 9)
    assert m["D[4,3]"] == pytest.approx(98 / 36)  # De Brouckere: (1 + 16 + 81) / (1 + 8 + 27)


def test_number_weights_count_like_repeated_grains():
    # weights 2, 1, 1 are the set 1, 1, 2, 3
    weighted, repeated = moment_means([1.0, 2.0, 3.0], [2, 1, 1]), moment_means([1.0, 1.0, 2.0, 3.0], np.ones(4))
    assert weighted == pytest.approx(repeated)
    assert weighted["D[1,0]"] == pytest.approx(7 / 4) and weighted["D[4,3]"] == pytest.approx(99 / 37)


def test_notation_and_bad_orders():
    assert iso_notation("D[3,2]") == "x_bar_1,2" and iso_notation("D[4,3]") == "x_bar_1,3"
    assert iso_notation("D[1,0]") == "x_bar_1,0" and iso_notation("D[3,0]") == "x_bar_3,0"
    with pytest.raises(ValueError, match="p > q"):
        moment_mean([1.0], [1.0], 2, 3)
    with pytest.raises(ValueError, match="number, area, volume"):
        quantity_weights([1.0], [1.0], "mass")
    rows = moment_rows({"all": {"moment_means": moment_means([1.0, 2.0], [1, 1])}}, "um")
    assert [r["mean"] for r in rows][:2] == ["D[1,0]", "D[2,0]"] and rows[3]["iso_9276_2"] == "x_bar_1,2"


def test_volume_weighting_by_hand():
    # two grains of 1 and 2: volume weights 1 and 8, steps centred at 0.5/9 and (1 + 4)/9; D50 halfway along
    row = percentile_row([1.0, 2.0], quantity_weights([1.0, 2.0], [1, 1], "volume"), q=[50, 50, 50])
    assert row["d50"] == pytest.approx(1 + (0.5 - 0.5 / 9) / (5 / 9 - 0.5 / 9)) and row["span"] == 0


def test_log_normal_weightings_follow_hatch_choate():
    # a log-normal number distribution (median m, log sd s) has its r-weighted median at m exp(r s^2)
    rng = np.random.default_rng(0)
    d = rng.lognormal(np.log(10.0), 0.3, 200_000)
    s = size_statistics(d, np.ones(d.size))
    for name, r in (("number", 0), ("area", 2), ("volume", 3)):
        assert s["weightings"][name]["d50"] == pytest.approx(10.0 * np.exp(r * 0.09), rel=0.01)
    number = s["weightings"]["number"]
    assert number["span"] == pytest.approx((number["d90"] - number["d10"]) / number["d50"])
    assert number["d90"] / number["d50"] == pytest.approx(np.exp(1.2816 * 0.3), rel=0.01)
    assert s["moment_means"]["D[3,2]"] == pytest.approx(10.0 * np.exp(2.5 * 0.09), rel=0.01)
    assert s["n"] == d.size and size_statistics([], [])["n"] == 0
