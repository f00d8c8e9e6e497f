"""The training config's flat options: the CLI's flags and the loop's record map onto ``TrainConfig`` here.

``TrainConfig`` (ml/train.py) and its parts hold every default, once. A flat option is a name for one field of
that nested config (``patch`` is ``patches.size``); options left as None keep the config's value. params.yaml
holds the nested config itself (only the fields it changes), read with ``load_params``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import yaml

from ml.config import from_dict, to_dict
from ml.train import TrainConfig

OPTIONS: Mapping[str, tuple[str, ...]] = {
    "arch": ("model", "arch"), "encoder": ("model", "encoder"), "decoder_channels": ("model", "decoder_channels"),
    "encoder_weights": ("model", "encoder_weights"), "in_channels": ("model", "in_channels"),
    "classes": ("model", "classes"), "epochs": ("epochs",), "minutes": ("max_minutes",),
    "patch": ("patches", "size"), "patches_per_epoch": ("patches", "per_epoch"), "balanced": ("patches", "class_balanced"),
    "batch_size": ("batch_size",), "lr": ("lr",), "warm_lr": ("warm_lr",), "restart_epochs": ("restart_epochs",), "loss": ("loss", "name"),
    "class_weights": ("loss", "class_weights"), "augment": ("augment", "enabled"),
    "downsample": ("preprocess", "downsample"), "patience": ("patience",), "seed": ("seed",), "threads": ("threads",),
    "device": ("device",), "precision": ("precision",), "workers": ("workers",),
    "semi": ("semi", "method"), "semi_weight": ("semi", "weight"), "semi_threshold": ("semi", "threshold"),
    "semi_cutmix": ("semi", "cutmix"),
    "pretrain_steps": ("semi", "pretrain", "steps"),
    "trainer": ("trainer",), "gan_weight": ("gan", "weight"),
}
DEFAULTS = TrainConfig()
PARAMS_SECTION = "train"  # the section of params.yaml that is a TrainConfig


def default(option: str) -> Any:
    """The config's default for a flat option (what the CLI shows)."""
    value: Any = DEFAULTS
    for name in _path(option):
        value = getattr(value, name)
    return value


def _path(option: str) -> tuple[str, ...]:
    if option not in OPTIONS:
        raise ValueError(f"unknown training option {option!r}; valid: {', '.join(sorted(OPTIONS))}")
    return OPTIONS[option]


def _set(obj: Any, path: tuple[str, ...], value: Any) -> Any:
    head, *rest = path
    new = _set(getattr(obj, head), tuple(rest), value) if rest else value
    return dataclasses.replace(obj, **{head: new})


def with_options(cfg: TrainConfig = DEFAULTS, **options: Any) -> TrainConfig:
    """``cfg`` with the given flat options set; None leaves a field as it is."""
    for option, value in options.items():
        path = _path(option)
        if value is not None:
            cfg = _set(cfg, path, tuple(value) if isinstance(value, list) else value)
    return cfg


def train_config(**options: Any) -> TrainConfig:
    """The default TrainConfig with some flat options set (model channels and classes come from the data later)."""
    return with_options(DEFAULTS, **options)


def load_params(path: Path, section: str = PARAMS_SECTION) -> TrainConfig:
    """The TrainConfig of a params.yaml section: the defaults, changed where the file says."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if section not in data:
        raise ValueError(f"{path} has no {section!r} section")
    return from_dict(TrainConfig, data[section] or {})


def params_dict(cfg: TrainConfig) -> dict:
    """The whole config as params.yaml's section (plain lists, so DVC and YAML read it back the same)."""
    return to_dict(dataclasses.replace(cfg, progress=False))
