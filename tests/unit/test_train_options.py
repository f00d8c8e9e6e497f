"""One training config: TrainConfig's defaults, params.yaml and the CLI's flat options all map onto it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dataset.pipeline import TrainingRecord, pipeline, replay_config
from ml.config import from_dict
from ml.train import TrainConfig
from ml.train_options import DEFAULTS, OPTIONS, default, load_params, params_dict, train_config, with_options

ROOT = Path(__file__).resolve().parents[2]


def test_every_flat_option_names_a_field_and_its_default_is_the_configs():
    assert train_config() == TrainConfig()
    assert default("patch") == TrainConfig().patches.size and default("minutes") is None
    for option in OPTIONS:
        default(option)  # every path exists in TrainConfig


def test_options_change_only_what_they_name():
    cfg = with_options(arch="fpn", patch=96, decoder_channels=[32, 16, 8, 8, 8], minutes=None)
    assert cfg.model.arch == "fpn" and cfg.patches.size == 96 and cfg.model.decoder_channels == (32, 16, 8, 8, 8)
    assert cfg.max_minutes is None and cfg.epochs == DEFAULTS.epochs and cfg.model.encoder == DEFAULTS.model.encoder


def test_an_unknown_option_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown training option 'epoch'.*epochs"):
        with_options(epoch=3)


def test_the_repositorys_params_yaml_is_a_train_config_and_round_trips(tmp_path):
    cfg = load_params(ROOT / "params.yaml")
    assert cfg.model.decoder_channels == (64, 32, 16, 16, 16) and cfg.lr == 0.002 and cfg.patience == DEFAULTS.patience
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": params_dict(cfg)}))
    assert load_params(path) == cfg
    assert from_dict(TrainConfig, params_dict(cfg)) == cfg


def test_params_with_a_misspelt_field_are_refused(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(ValueError, match="unknown TrainConfig fields.*'epoch'"):
        load_params(path)


def test_the_repositorys_dvc_yaml_is_the_loops_pipeline():
    assert yaml.safe_load((ROOT / "dvc.yaml").read_text()) == pipeline(warm_start=False)
    warm = pipeline(warm_start=True)["stages"]["train"]
    assert "--warm-start models/warm-start.pt" in warm["cmd"] and "models/warm-start.pt" in warm["deps"]


def test_the_replay_stops_by_the_epochs_a_time_budget_allowed():
    cfg = train_config(epochs=30, minutes=5.0)
    record = TrainingRecord("dataset-v3", 7, "time_budget", 30, 5.0, threads=2, device="cpu")
    replay = replay_config(cfg, record)
    assert replay.epochs == 7 and replay.max_minutes is None and replay.threads == 2
    assert replay.model == cfg.model and replay.lr == cfg.lr
