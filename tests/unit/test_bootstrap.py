"""Bootstrap intervals: they hold a known log-normal D50, repeat with the seed, and the ISO 13322-1 count check."""
import numpy as np
import pytest

from ml.bootstrap import BootstrapConfig, bootstrap, geometric_sd, grains_needed
from ml.edge_correction import number_weights
from ml.grain_stats import StatsConfig, distribution_rows, grain_statistics
from tests.grain_fields import measured_fields


@pytest.fixture(scope="module")
def fields():
    # 30 fields of 192 x 192 px, disc diameters log-normal with median 24 px and log sd 0.35 (about 400 whole grains)
    return measured_fields(30, (192, 192), 24.0, 0.35, seed=0)


def test_known_log_normal_d50_lies_in_both_intervals(fields):
    # measured: D50 23.45 px, over images [22.96, 24.33], over grains [22.82, 24.60] (B = 500, seed 0)
    result = grain_statistics(fields, "ecd_px", "px", StatsConfig(bootstrap=BootstrapConfig(500, seed=0)))
    s = result["classes"]["all"]
    for level in ("images", "grains"):
        lo, hi = s["intervals"][level]["number"]["d50"]
        assert lo < 24.0 < hi and lo < s["weightings"]["number"]["d50"] < hi
        assert hi - lo < 0.1 * 24.0  # a useful interval, not an arbitrarily wide one
    lo, hi = s["intervals"]["images"]["grains_per_image"]
    assert lo < s["n_weighted"] / 30 < hi
    rows = distribution_rows(result)
    assert len(rows) == 3 * 4 and rows[1]["statistic"] == "d50"
    assert rows[1]["ci_images_low"] == s["intervals"]["images"]["number"]["d50"][0]


def test_seeded_and_configurable(fields):
    d, w, images = fields["ecd_px"].to_numpy(), number_weights(fields), fields["image"].to_numpy()
    first = bootstrap(d, w, images, BootstrapConfig(200, seed=3), "grains")
    assert first == bootstrap(d, w, images, BootstrapConfig(200, seed=3), "grains")
    assert first != bootstrap(d, w, images, BootstrapConfig(200, seed=4), "grains")
    assert "grains_per_image" not in first and "grains_per_image" in bootstrap(d, w, images, BootstrapConfig(50),
                                                                                  "images")
    narrow = bootstrap(d, w, images, BootstrapConfig(200, seed=3, confidence=0.5), "grains")["volume"]["d90"]
    assert narrow[1] - narrow[0] < first["volume"]["d90"][1] - first["volume"]["d90"][0]
    assert grain_statistics(fields, "ecd_px", "px", StatsConfig(bootstrap=BootstrapConfig(0)))["classes"]["all"][
        "intervals"] == {}
    with pytest.raises(ValueError, match="images, grains"):
        bootstrap(d, w, images, BootstrapConfig(10), "fields")
    with pytest.raises(ValueError, match="confidence"):
        BootstrapConfig(10, confidence=1.5)


def test_grains_needed_against_iso_13322_1():
    rng = np.random.default_rng(0)
    d = rng.lognormal(0.0, np.log(1.6), 20_000)
    gsd = geometric_sd(d, np.ones(d.size))
    assert gsd == pytest.approx(1.6, rel=0.02)
    few, many = grains_needed(400, gsd), grains_needed(d.size, gsd)
    assert not few["enough_for_volume_mean"] and many["enough_for_volume_mean"]
    assert not many["enough_for_percentiles"] and grains_needed(61_000, gsd)["enough_for_percentiles"]
    assert "ISO 13322-1" in few["source"] and few["needed_percentiles"] == 61_000


def test_images_without_grains_count_as_fields():
    d, w = np.array([10.0, 12.0, 14.0, 16.0]), np.ones(4)
    with_grains = bootstrap(d, w, ["a", "a", "b", "b"], BootstrapConfig(300, seed=1), "images")
    with_empty = bootstrap(d, w, ["a", "a", "b", "b"], BootstrapConfig(300, seed=1), "images", ["a", "b", "c", "d"])
    assert with_grains["grains_per_image"] == [2.0, 2.0]  # both fields hold two grains: no spread
    assert with_empty["grains_per_image"][0] < 1.0 < with_empty["grains_per_image"][1]  # mean 1 over four fields
