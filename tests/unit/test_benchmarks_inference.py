"""Smoke runs of the inference benchmarks (`bin/bench NAME --smoke`): exit 0 and their figure lines printed, times
never asserted. Kept apart from test_benchmarks.py, which lists every benchmark, so that bin/test's parallel
workers (one file each) share the smokes out."""
from __future__ import annotations

import re

import pytest

from tests.helpers import run_bench

NUMBER = r"-?\d+(\.\d+)?"


def test_predict_overhead():
    out = run_bench("predict_overhead", "--smoke")
    assert re.search(rf"^ratio: {NUMBER} \(goal <= 1.15\)$", out, re.M), out
    assert re.search(r"^\| 256 \| 128 \| 16 \| 2 \| \d+ \|", out, re.M), out


@pytest.mark.slow
def test_backend_latency():
    out = run_bench("backend_latency", "--smoke")
    assert re.search(rf"^cold start: `grainloop backend` up in {NUMBER} s, its first /predict {NUMBER} s$", out,
                     re.M), out
    assert re.search(rf"^ratio /predict / raw forward: {NUMBER} \(goal <= 1.3\)$", out, re.M), out
    assert re.search(r"^\| 128x96 \| 1 of 128x128, \w+ \w+ \|", out, re.M), out  # windows and the engine


def test_predict_memory():
    out = run_bench("predict_memory", "--smoke")
    assert re.search(rf"^peak RSS \(getrusage\): {NUMBER} GB", out, re.M), out
    assert re.search(r"^\| 512x512 \| tiny \| \d+ \|", out, re.M), out


def test_inference_engines():
    out = run_bench("inference_engines", "--smoke")
    assert re.search(r"^CPU: .*; native bf16: (True|False)", out, re.M), out
    assert re.search(rf"^\| torch \| fp32 \| {NUMBER} \| 1.00 \| 100.0000% \| {NUMBER} \| \+0.0000 \|$", out, re.M), out
    assert re.search(rf"^\| auto \(\w+\) \| auto \(\w+\) \| {NUMBER} \| {NUMBER} \| {NUMBER}% \|", out, re.M), out
    assert re.search(rf"^auto / fp32 eager: {NUMBER} \(goal >= [26] on this CPU\)$", out, re.M), out
