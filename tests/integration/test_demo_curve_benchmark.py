"""Smoke run of `bin/bench demo_curve --smoke`: one seed of a tiny demo (its own Label Studio and MLflow
server, stopped afterwards), its table and verdict printed. Figures are never asserted."""
from __future__ import annotations

import re

import pytest

from tests.helpers import run_bench

pytestmark = pytest.mark.slow


def test_demo_curve_smoke(tmp_path):
    out = run_bench("demo_curve", "--smoke", "--out", str(tmp_path), timeout=900)
    assert re.search(r"^\| 0 \| 1 \| 2 \| ", out, re.M), out  # seed 0, cycle 1, 2 labeled images
    assert re.search(r"^\| 0 \| 2 \| 4 \| ", out, re.M), out
    assert re.search(r"^goal met on [01] of 1 seeds$", out, re.M), out
    assert (tmp_path / "seed-0" / "learning_curve.png").exists()
