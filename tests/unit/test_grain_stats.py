"""The statistics report of `measure`: per class tables and plots, and ASTM E112 through the whole run."""
import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from foundation.schema import binary_schema
from ml.grain_stats import StatsConfig, write_statistics
from ml.bootstrap import BootstrapConfig
from ml.measure import MeasureSpec, run_measure
from tests.grain_fields import measured_fields
from tests.unit.test_astm_e112 import G_INTERCEPT, G_PLANIMETRIC, square_grid


def test_tables_and_plots_per_class(tmp_path):
    g = measured_fields(6, (128, 128), 16.0, 0.3, seed=1)
    g["class_name"] = np.where(g.index % 3 == 0, "quartz", "feldspar alkali")
    result = write_statistics(tmp_path, g, "ecd_px", "px", StatsConfig(bootstrap=BootstrapConfig(50)))
    assert list(result["classes"]) == ["all", "feldspar alkali", "quartz"]
    assert sorted(result["plots"]) == ["distribution_all.png", "distribution_feldspar_alkali.png",
                                       "distribution_quartz.png"]
    assert all((tmp_path / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in result["plots"])
    table = pd.read_csv(tmp_path / "distribution.csv")
    assert len(table) == 3 * 3 * 4 and table.ci_grains_low.notna().all()
    moments = pd.read_csv(tmp_path / "moments.csv")
    assert len(moments) == 3 * 5 and (moments.unit == "px").all()
    n = {c: s["n"] for c, s in result["classes"].items()}
    assert n["all"] == n["quartz"] + n["feldspar alkali"] == (~g.cut_by_edge).sum()


def test_space_filling_grid_gets_its_grain_size_number(tmp_path):
    tifffile.imwrite(tmp_path / "grid.tif", square_grid().astype(np.uint16))
    spec = MeasureSpec(tmp_path, "instance", pixel_size_um=1.0, bootstrap=BootstrapConfig(20))
    summary = run_measure(spec, binary_schema(), tmp_path / "out")
    e112 = summary["astm_e112"]
    assert e112["images"] == 1 and e112["reason"] is None and e112["equivalent_grains"] == 100
    assert e112["g_planimetric"] == pytest.approx(G_PLANIMETRIC, abs=1e-3)
    assert e112["g_intercept"] == pytest.approx(G_INTERCEPT, abs=1e-3)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["astm_e112"] == e112
    # every whole grain is a 20 px square: ECD sqrt(4 * 400 / pi) = 22.57 um, whatever the weighting
    d50 = summary["iso9276"]["classes"]["all"]["weightings"]
    assert all(d50[w]["d50"] == pytest.approx(np.sqrt(1600 / np.pi)) for w in ("number", "area", "volume"))
