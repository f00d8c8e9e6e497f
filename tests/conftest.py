"""Shared fixtures. Offline and quiet by default: no hub look-ups, no telemetry."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import EMPS_IDS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # steps called outside a flow

EMPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emps"


def pytest_collection_modifyitems(config, items) -> None:
    """Files holding a slow test first, each file's tests in their order: bin/test hands whole files to parallel
    workers in this order, and a long file started last would run alone at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="session")
def emps_dir() -> Path:
    """The real EMPS images beside the checkout; the test skips cleanly when the folder is absent."""
    if not (EMPS / "images").is_dir():
        pytest.skip(f"real data not present at {EMPS}")
    return EMPS


@pytest.fixture(scope="module")
def emps_subset(emps_dir, tmp_path_factory):
    """A few EMPS files, linked (not copied into the repository) into a temporary folder."""
    out = tmp_path_factory.mktemp("emps")
    for sub in ("images", "segmaps"):
        (out / sub).mkdir()
        for i in EMPS_IDS:
            (out / sub / f"{i}.png").symlink_to(emps_dir / sub / f"{i}.png")
    return out


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """A small seeded synthetic dataset on disk (images/, masks/, instances/)."""
    from ml.synthetic import SyntheticConfig, write_dataset

    out = tmp_path_factory.mktemp("synthetic")
    write_dataset(out, 12, SyntheticConfig(height=128, width=160), seed=3)
    return out
