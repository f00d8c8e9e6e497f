"""Grain sizes on real EMPS instance maps (../shared/data/emps): every grain accounted for. Skips when absent."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from foundation.schema import binary_schema
from ml.data import find_samples
from ml.io import read_mask
from ml.measure import MeasureSpec, run_measure
from tests.helpers import EMPS_IDS

pytestmark = pytest.mark.emps
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "emps_sizes.py"


def test_measure_ground_truth_instance_maps(emps_subset, tmp_path):
    spec = MeasureSpec(emps_subset / "segmaps", "instance", (emps_subset / "images",))
    summary = run_measure(spec, binary_schema(), tmp_path)
    n = sum(len(np.unique(read_mask(emps_subset / "segmaps" / f"{i}.png"))) - 1 for i in EMPS_IDS)
    assert summary["grains_found"] == n == summary["grains_measured"] + summary["grains_dropped"]
    assert summary["units"] == "px" and summary["images"] == len(EMPS_IDS)  # PNGs carry no pixel size
    d = summary["distribution"]["all"]
    assert 0 < d["d10"] < d["d50"] < d["d90"] and d["d50"] < d["d50_area"]
    assert json.loads((tmp_path / "summary.json").read_text())["grains_found"] == n


def test_benchmark_script_functions(emps_subset):
    spec = importlib.util.spec_from_file_location("emps_sizes", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    files = find_samples([emps_subset / "images"], emps_subset / "segmaps")
    table, maps, found, dropped = bench.truth_tables(files, min_area=10)
    assert found == len(table) + dropped and set(maps) == set(EMPS_IDS)
    assert "GT" in bench._line("GT", table, include_cut=False)
