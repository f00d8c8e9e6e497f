"""Smoke runs of the benchmarks that need a Label Studio server (`bin/bench NAME --smoke --settings FILE`, against
the session server): exit 0 and their figure lines printed. Times are never asserted. The other benchmarks are
smoked in tests/unit/test_benchmarks.py."""
from __future__ import annotations

import re

import pytest

from tests.helpers import run_bench

pytestmark = pytest.mark.slow
NUMBER = r"\d+(\.\d+)?"


def test_labeling_pull(server):
    out = run_bench("labeling_pull", "--smoke", "--settings", str(server.settings_file))
    assert re.search(r"^tasks 6, masks 96x128, decoded regions \(raw\) [1-9]", out, re.M), out
    assert re.search(r"^grainloop pull -> 6 mask files \+ 6 provenance rows", out, re.M), out
    assert re.search(rf"^ratio pull/raw throughput: {NUMBER} \(goal >= 0.8\)$", out, re.M), out


def test_labeling_push(server):
    out = run_bench("labeling_push", "--smoke", "--settings", str(server.settings_file))
    assert re.search(r"^grainloop push incl\. encoding, .*\(6 created\)$", out, re.M), out
    assert re.search(rf"^ratio push/raw throughput: {NUMBER} \(goal >= 0.8\)$", out, re.M), out
    assert re.search(r"^re-push of the same version: .* predictions on server 6$", out, re.M), out


def test_preannotate_throughput(server, prefect_api):
    from prefect.settings import PREFECT_API_URL

    out = run_bench("preannotate_throughput", "--smoke", "--settings", str(server.settings_file),
                    "--prefect-api", PREFECT_API_URL.value())  # the session's server: no second one to start
    assert re.search(r"^tasks 4, images 128x128", out, re.M), out
    assert re.search(r"^preannotate flow: .*, created 4$", out, re.M), out
    assert re.search(rf"^ratio flow/raw throughput: {NUMBER} \(goal >= 0.8\)$", out, re.M), out
