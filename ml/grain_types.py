"""Grain types from mean composition: a rule file turns the per-grain channel means of co-registered element
maps (``mean_ch{i}`` of ``ml.morphometry``) into a ``type`` column, and counts and area fractions per type.

A rule file (YAML) names the channels of the measured stack and lists the types in order; a grain gets the
first type whose every threshold holds (``min``: mean >= value, ``max``: mean <= value), else
``unclassified``::

    channels: {bse: 0, Si: 1, Fe: 2, Ca: 3}   # name: channel index (the order `grainloop register` stacked)
    types:
      - {name: iron-oxide, min: {Fe: 0.5}}
      - {name: plagioclase, min: {Ca: 0.45}}
      - {name: quartz, min: {Si: 0.7}, max: {Fe: 0.2, Ca: 0.2}}

Thresholds are in the units of the measured images (counts, or whatever the maps hold). Channels may also be
named ``ch{i}`` without a ``channels`` entry. Example: ``schemas/grain-types-sand.yaml``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

UNCLASSIFIED = "unclassified"
TYPE_COLUMN = "type"
_KEYS = {"name", "min", "max"}


@dataclass(frozen=True)
class TypeRule:
    name: str
    minimum: tuple[tuple[str, float], ...] = ()  # (grains.csv column, threshold): mean >= threshold
    maximum: tuple[tuple[str, float], ...] = ()  # mean <= threshold


@dataclass(frozen=True)
class GrainTypes:
    rules: tuple[TypeRule, ...]
    source: str = ""  # the rule file

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules] + [UNCLASSIFIED]

    @property
    def columns(self) -> list[str]:
        return sorted({c for r in self.rules for c, _ in (*r.minimum, *r.maximum)})


def _column(name: str, channels: dict[str, int]) -> str:
    if name in channels:
        return f"mean_ch{int(channels[name])}"
    if re.fullmatch(r"ch\d+", name):
        return f"mean_{name}"
    valid = ", ".join([*channels, "ch0, ch1, ..."])
    raise ValueError(f"unknown channel {name!r} in the grain-type rules; valid: {valid}")


def _thresholds(rule: dict, key: str, channels: dict[str, int]) -> tuple[tuple[str, float], ...]:
    values = rule.get(key) or {}
    if not isinstance(values, dict):
        raise ValueError(f"type {rule.get('name')!r}: {key} must map channel names to numbers, got {values!r}")
    return tuple((_column(str(k), channels), float(v)) for k, v in values.items())


def types_from_dict(data: dict, source: str = "") -> GrainTypes:
    """The rules of a parsed rule file; errors name the type and the valid keys or channels."""
    if not isinstance(data, dict) or not isinstance(data.get("types"), list) or not data["types"]:
        raise ValueError(f"grain-type rules need a non-empty `types` list (and optional `channels`): {source}")
    channels = data.get("channels") or {}
    rules = []
    for i, rule in enumerate(data["types"]):
        if not isinstance(rule, dict) or not rule.get("name"):
            raise ValueError(f"grain type {i + 1} needs a name: {rule!r}")
        unknown = set(rule) - _KEYS
        if unknown:
            raise ValueError(f"type {rule['name']!r}: unknown keys {sorted(unknown)}; valid: {sorted(_KEYS)}")
        rules.append(TypeRule(str(rule["name"]), _thresholds(rule, "min", channels),
                              _thresholds(rule, "max", channels)))
    names = [r.name for r in rules]
    if len(set(names)) != len(names) or UNCLASSIFIED in names:
        raise ValueError(f"grain type names must be unique and not {UNCLASSIFIED!r}: {names}")
    return GrainTypes(tuple(rules), source)


def load_types(path: Path) -> GrainTypes:
    return types_from_dict(yaml.safe_load(Path(path).read_text()), str(path))


def assign_types(grains: pd.DataFrame, types: GrainTypes) -> pd.Series:
    """Each grain's type: the first rule all of whose thresholds hold, else ``unclassified``."""
    missing = [c for c in types.columns if c not in grains.columns]
    if missing and not grains.empty:
        have = [c for c in grains.columns if c.startswith("mean_ch")]
        raise ValueError(f"the grain-type rules read {missing} but the grains have {have or 'no channel means'}: "
                         "measure with --images set to the registered stack (or the channel folders)")
    result = pd.Series(UNCLASSIFIED, index=grains.index, dtype=object)
    open_ = pd.Series(True, index=grains.index)
    for rule in types.rules:
        hit = open_.copy()
        for column, value in rule.minimum:
            hit &= grains[column] >= value
        for column, value in rule.maximum:
            hit &= grains[column] <= value
        result[hit] = rule.name
        open_ &= ~hit
    return result


def type_table(typed: pd.DataFrame, names: list[str], area_column: str = "area_px") -> pd.DataFrame:
    """Counts, count fractions, areas and area fractions per type (of the grains' ``type`` column), one row for
    each of ``names`` in order (zeros for types no grain has)."""
    counts = typed[TYPE_COLUMN].value_counts() if not typed.empty else pd.Series(dtype=int)
    areas = typed.groupby(TYPE_COLUMN)[area_column].sum() if not typed.empty else pd.Series(dtype=float)
    total_n, total_area = max(len(typed), 1), float(areas.sum()) or 1.0
    return pd.DataFrame([{"type": n, "grains": int(counts.get(n, 0)), "count_fraction": counts.get(n, 0) / total_n,
                          area_column: float(areas.get(n, 0.0)), "area_fraction": areas.get(n, 0.0) / total_area}
                         for n in names])


def classify(grains: pd.DataFrame, types: GrainTypes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grains with a ``type`` column, and the per-type table over every type of the rules and every measured
    grain (cut ones too: the area fractions are shares of the grain area seen), in um^2 when every grain has a
    pixel size."""
    typed = grains.assign(**{TYPE_COLUMN: assign_types(grains, types)})
    area = "area_um2" if "area_um2" in typed.columns and typed["area_um2"].notna().all() else "area_px"
    return typed, type_table(typed, types.names, area)


def types_summary(table: pd.DataFrame, types: GrainTypes) -> dict:
    """The per-type table for summary.json, with the rule file and the first-match rule."""
    return {"rules": types.source, "rule": "first matching type wins; unclassified otherwise",
            "types": table.to_dict(orient="records")}
