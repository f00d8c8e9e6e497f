"""The saved loop configuration: a faithful round trip, no store URI (nor its password) in the file."""
from __future__ import annotations

from pathlib import Path

import pytest

from flows.demo import DemoConfig, loop_config
from flows.loop_config import load_loop_config, save_loop_config
from ml.train_options import train_config
from foundation.schema import LabelSchema


def _loop(tmp_path: Path):
    cfg = DemoConfig(tmp_path / "demo", tmp_path / "images", tmp_path / "masks", train_config(epochs=2),
                     strategy="kcenter", min_iou=0.4)
    return loop_config(cfg, LabelSchema.load("schemas/phases.yaml"))


def test_round_trip(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    loop = _loop(tmp_path)
    assert load_loop_config(save_loop_config(loop, tmp_path / "loop.json")) == loop


def test_the_store_comes_from_the_environment_and_never_from_the_file(tmp_path, monkeypatch):
    uri = "postgresql://mlflow:pa55word-xyz@db:5432/mlflow"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    path = save_loop_config(_loop(tmp_path), tmp_path / "loop.json")
    assert "pa55word-xyz" not in path.read_text()
    assert load_loop_config(path).tracking.tracking_uri == uri


def test_a_misspelt_field_is_named(tmp_path):
    path = save_loop_config(_loop(tmp_path), tmp_path / "loop.json")
    path.write_text(path.read_text().replace('"strategy"', '"stratgy"'))
    with pytest.raises(ValueError, match="stratgy"):
        load_loop_config(path)
    with pytest.raises(FileNotFoundError, match="grainloop demo"):
        load_loop_config(tmp_path / "missing.json")
