"""`grainloop config`: read and change one setting of a saved loop, validated, so nobody edits loop.json by hand.

A key is a dotted path into the loop's configuration (``strategy``, ``rule.margin``, ``samples.pixel_size_um``,
``labeling.policy``, ``train.patches.size``); under ``train.`` the training CLI's flat option names work too
(``train.patch``, ``train.epochs``, ``train.arch``). The value is parsed as YAML (``12``, ``0.5``, ``true``,
``null``, ``[64, 32]``), checked against the field's type, and the whole configuration is rebuilt (every check
of the typed config runs) before the file is replaced atomically.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import yaml

from flows.loop_config import LoopConfig, load_loop_config
from foundation.atomic import write_atomic
from ml.train_options import OPTIONS

FIXED = {"workspace": "the workspace holds the dataset versions: start a new loop with `grainloop init --out DIR`",
         "schema": "the label schema is the Label Studio project's: start a new loop with another --schema"}


class SettingError(ValueError):
    """A key that does not exist, may not change, or a value of the wrong type; the message lists the choices."""


def _path(key: str) -> list[str]:
    parts = key.split(".")
    if parts[0] in FIXED:
        raise SettingError(f"{parts[0]} cannot be changed: {FIXED[parts[0]]}")
    if parts[0] == "train" and len(parts) == 2 and parts[1] in OPTIONS:
        return ["train", *OPTIONS[parts[1]]]
    return parts


def _field_type(cls: type, parts: list[str]) -> Any:
    """The declared type of the field at ``parts`` under dataclass ``cls``."""
    tp: Any = cls
    for i, name in enumerate(parts):
        target = _dataclass_of(tp)
        if target is None:
            return Any  # inside a dict field (e.g. rule.minimums.NAME)
        names = [f.name for f in dataclasses.fields(target)]
        if name not in names:
            where = ".".join(parts[:i]) or "the loop"
            raise SettingError(f"no setting {'.'.join(parts)!r}: {where} has {', '.join(names)}")
        tp = typing.get_type_hints(target)[name]
    return tp


def _dataclass_of(tp: Any):
    if dataclasses.is_dataclass(tp):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 and dataclasses.is_dataclass(args[0]) else None


def _check(tp: Any, value: Any, key: str) -> Any:
    """The parsed value, if it fits the declared type (ints widen to floats, lists to tuples)."""
    optional = type(None) in typing.get_args(tp)
    if value is None:
        if optional or tp is Any:
            return None
        raise SettingError(f"{key} cannot be empty")
    base = ([a for a in typing.get_args(tp) if a is not type(None)] or [tp])[0] if optional else tp
    origin = typing.get_origin(base)
    if base is Any or dataclasses.is_dataclass(base) or origin is dict:
        return value
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise SettingError(f"{key} takes a list, e.g. [64, 32]; got {value!r}")
        return value
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is Path and isinstance(value, str):
        return value
    if isinstance(base, type) and not (isinstance(value, base) and not (base is int and isinstance(value, bool))):
        raise SettingError(f"{key} takes a {base.__name__}; got {value!r}")
    return value


def _walk(data: dict, parts: list[str]) -> tuple[dict, str]:
    for name in parts[:-1]:
        data = data.setdefault(name, {}) if name != "tracking" else data[name]
    return data, parts[-1]


def read_setting(config: Path, key: str) -> Any:
    """The saved value of ``key`` (an unknown key is an error listing the valid ones)."""
    parts = _path(key)
    if parts[0] != "tracking":
        _field_type(LoopConfig, parts)
    node, last = _walk(json.loads(Path(config).read_text()), parts)
    return node.get(last)


def change_setting(config: Path, key: str, text: str) -> LoopConfig:
    """Set ``key`` to the YAML value ``text``; returns the validated configuration now saved at ``config``."""
    config = Path(config)
    data = json.loads(config.read_text())
    parts = _path(key)
    if parts[0] == "tracking":
        if parts[1:] not in (["experiment"], ["model_name"]):
            raise SettingError("tracking takes experiment or model_name; the store is MLFLOW_TRACKING_URI or "
                               "`grainloop init --tracking-uri`")
        tp: Any = str
    else:
        tp = _field_type(LoopConfig, parts)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingError(f"{text!r} is not a value: {exc}") from None
    node, last = _walk(data, parts)
    node[last] = _check(tp, value, key)
    tmp = config.with_name(config.name + ".check")
    try:
        write_atomic(tmp, json.dumps(data, indent=2, sort_keys=True))
        cfg = load_loop_config(tmp)  # every check of the typed config, nested ones included
    except (TypeError, ValueError) as exc:
        raise SettingError(f"{key} = {value!r} is refused: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    write_atomic(config, json.dumps(data, indent=2, sort_keys=True))
    return cfg


def settings_table(config: Path) -> list[tuple[str, Any]]:
    """Every leaf setting as (dotted key, value), in file order."""
    def leaves(node: Any, prefix: str) -> list[tuple[str, Any]]:
        if isinstance(node, dict) and node:
            return [kv for k, v in node.items() for kv in leaves(v, f"{prefix}{k}.")]
        return [(prefix.rstrip("."), node)]
    return leaves(json.loads(Path(config).read_text()), "")

