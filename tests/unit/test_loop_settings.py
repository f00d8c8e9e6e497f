"""`grainloop config`: one setting changed, typed and validated, the file replaced atomically; the loop file
round-trips the new fields (specimen pattern, pixel-size fallback, Prefect server, a tracking server's URI)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset.samples import SampleConfig, describe, specimen_key
from dataset.store import Incoming
from flows.loop_config import LabelingTarget, LoopConfig, load_loop_config, save_loop_config
from flows.loop_settings import SettingError, change_setting, read_setting, settings_table
from flows.tracking import TrackingConfig
from foundation.schema import binary_schema
from ml.train import TrainConfig


@pytest.fixture()
def loop_file(tmp_path) -> Path:
    ws = tmp_path / "workspace"
    target = LabelingTarget(tmp_path / "ls.json", "lab", tmp_path / "images", tmp_path)
    cfg = LoopConfig(ws, target, binary_schema(), TrackingConfig.for_project(ws, env={}), TrainConfig())
    return save_loop_config(cfg, tmp_path / "loop.json")


def test_a_setting_changes_with_its_type_and_is_read_back(loop_file):
    assert change_setting(loop_file, "strategy", "margin").strategy == "margin"
    assert change_setting(loop_file, "train.epochs", "7").train.epochs == 7  # the training CLI's flat name
    assert change_setting(loop_file, "train.precision", "fp32").train.precision == "fp32"
    assert change_setting(loop_file, "train.patches.size", "96").train.patches.size == 96
    assert change_setting(loop_file, "rule.margin", "0").rule.margin == 0.0  # an int widens to a float
    assert change_setting(loop_file, "rule.minimums.mean_fg_iou", "0.2").rule.minimums == {"mean_fg_iou": 0.2}
    cfg = change_setting(loop_file, "samples.pixel_size_um", "0.05")
    assert cfg.samples.pixel_size_um == 0.05 and read_setting(loop_file, "samples.pixel_size_um") == 0.05
    assert change_setting(loop_file, "train.decoder_channels", "[32, 16, 16, 16, 16]").train.model.decoder_channels == (
        32, 16, 16, 16, 16)
    assert change_setting(loop_file, "splits", "{train: 0.5, val: 0.1, test: 0.4}").splits.test == 0.4
    assert change_setting(loop_file, "train.warm_lr", "0.0005").train.warm_lr == 5e-4
    assert change_setting(loop_file, "labeling.policy", "staple").labeling.policy == "staple"
    assert change_setting(loop_file, "labeling.min_agreement", "0.6").labeling.min_agreement == 0.6
    assert load_loop_config(loop_file).train.epochs == 7
    assert ("train.epochs", 7) in settings_table(loop_file)


@pytest.mark.parametrize("key, value, says", [
    ("strategy", "best", "choose one of"),  # the factory's error lists the valid strategies
    ("train.epochs", "many", "takes a int"),
    ("train.precision", "fp16", "valid: auto, fp32, bf16"),
    ("min_new_annotations", "0", "at least 1"),
    ("labeling.policy", "loudest", "choose one of"),
    ("samples.pixel_size_um", "-1", "> 0"),
    ("labeling.min_agreement", "1.5", "between 0 and 1"),
    ("train.semi", "fixmatch", "mean_teacher"),
    ("train.semi", "mean_teacher", "not a loop setting yet"),
    ("splits.test", "0.5", "sum to 1"),  # the fractions change together: splits "{train: .., val: .., test: ..}"
    ("samples.specimen_pattern", "(", "not a regular expression"),
    ("strategi", "margin", "strategy"),  # an unknown key lists the valid ones
    ("train.nonsense", "1", "epochs"),
    ("schema", "x", "new loop"),
    ("workspace", "/tmp/x", "new loop"),
    ("tracking.tracking_uri", "http://x", "MLFLOW_TRACKING_URI"),
])
def test_a_bad_setting_is_refused_and_the_file_is_unchanged(loop_file, key, value, says):
    before = loop_file.read_text()
    with pytest.raises(SettingError, match=says):
        change_setting(loop_file, key, value)
    assert loop_file.read_text() == before


def test_the_loop_file_keeps_a_tracking_server_but_never_a_password(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = tmp_path / "ws"
    target = LabelingTarget(tmp_path / "ls.json", "lab", tmp_path / "images", tmp_path)
    base = LoopConfig(ws, target, binary_schema(), TrackingConfig("http://mlflow.lab:5000", None), TrainConfig(),
                      samples=SampleConfig(r"^(S\d+)_", 0.1), prefect_api_url="http://prefect.lab:4200/api")
    path = save_loop_config(base, tmp_path / "loop.json")
    back = load_loop_config(path)
    assert back == base
    assert json.loads(path.read_text())["tracking"]["uri"] == "http://mlflow.lab:5000"
    secret = LoopConfig(ws, target, binary_schema(), TrackingConfig("postgresql://u:pw@db/mlflow", None), TrainConfig())
    assert "pw" not in save_loop_config(secret, tmp_path / "secret.json").read_text()


def test_specimen_key_and_pixel_size_fallback(tmp_path):
    assert specimen_key("lab/S12_field3.tif", r"^(S\d+)_") == "S12"
    assert specimen_key("other.tif", r"^(S\d+)_") == "" and specimen_key("S1_a.tif", None) == ""
    image = tmp_path / "S7_a.png"
    image.write_bytes(b"")
    item = describe(Incoming("S7_a", image, None, provenance={"source": "S7_a.png"}), SampleConfig(r"^(S\d+)_", 0.2))
    assert item.group == "specimen:S7" and item.provenance["pixel_size_um"] == 0.2  # a PNG has no metadata
