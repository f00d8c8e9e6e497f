"""Size distributions: weighted percentiles on known data, distances between distributions, per-class plots."""
import numpy as np
import pandas as pd
import pytest

from ml.distributions import (plot_distributions, size_distribution_error, size_summary, sized_grains, summarise,
                              weighted_percentiles)


def test_number_weighted_percentiles_of_a_uniform_ramp():
    d = np.arange(1, 1001, dtype=float)
    d10, d50, d90 = weighted_percentiles(d)
    assert (d10, d50, d90) == pytest.approx((100.5, 500.5, 900.5))


def test_area_weighted_d50_follows_the_cube_law():
    # uniform diameters weighted by d^2: the cumulative area share is (d / max)^3, so D50 = max * 0.5^(1/3)
    d = np.linspace(0.01, 100, 20001)
    s = size_summary(d)
    assert s["d50_area"] == pytest.approx(100 * 0.5 ** (1 / 3), rel=1e-3)
    assert s["d90_area"] == pytest.approx(100 * 0.9 ** (1 / 3), rel=1e-3) and s["d50"] == pytest.approx(50, rel=1e-3)


def test_explicit_weights_and_empty_input():
    assert weighted_percentiles([1.0, 2.0, 10.0], [0, 0, 5], q=[50])[0] == 10.0
    assert np.isnan(weighted_percentiles([])).all() and size_summary([])["n"] == 0


def test_size_distribution_error_identical_shifted_and_empty():
    rng = np.random.default_rng(0)
    ref = rng.lognormal(3, 0.4, 2000)
    same = size_distribution_error(ref, ref)
    assert same["ks"] == 0 and same["wasserstein"] == 0 and same["n_pred"] == same["n_ref"] == 2000
    shifted = size_distribution_error(ref + 5.0, ref)
    assert shifted["wasserstein"] == pytest.approx(5.0) and 0.1 < shifted["ks"] < 1 and shifted["ks_pvalue"] < 1e-6
    close = size_distribution_error(rng.lognormal(3, 0.4, 2000), ref)
    assert close["ks"] < 0.06 and close["wasserstein"] < 1.0
    assert size_distribution_error([], ref)["ks"] == 1.0 and size_distribution_error([], ref)["wasserstein"] == np.inf
    assert size_distribution_error([], [])["ks"] == 0.0


def grain_table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    quartz, feldspar = rng.normal(20, 2, 300), rng.normal(40, 3, 100)
    d = np.concatenate([quartz, feldspar])
    return pd.DataFrame({"ecd_px": d, "area_px": np.pi * d**2 / 4, "class_name": ["quartz"] * 300 + ["feldspar"] * 100,
                         "cut_by_edge": np.arange(400) % 10 == 0})


def test_summaries_per_class_leave_out_cut_grains():
    t = grain_table()
    s = summarise(t)
    assert set(s) == {"all", "quartz", "feldspar"}
    assert s["all"]["n"] == 360 and s["quartz"]["n"] == 270 and s["feldspar"]["n"] == 90
    assert s["quartz"]["d50"] == pytest.approx(20, abs=0.5) and s["feldspar"]["d50"] == pytest.approx(40, abs=1)
    assert s["all"]["d50_area"] > s["all"]["d50"]  # the big grains hold most of the area
    assert summarise(t, include_cut=True)["all"]["n"] == 400 and len(sized_grains(t)) == 360


def test_plots_are_written(tmp_path):
    paths = plot_distributions(grain_table(), tmp_path / "plots", unit="um")
    assert [p.name for p in paths] == ["size_histogram.png", "size_cumulative.png"]
    assert all(p.stat().st_size > 5000 and p.read_bytes()[:4] == b"\x89PNG" for p in paths)
