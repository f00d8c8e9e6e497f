"""Typed configuration helpers: dataclasses to flat params and back (nested dataclasses, tuples, paths)."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """A JSON-friendly dict of a (nested) dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return str(obj) if isinstance(obj, Path) else obj


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if origin in (tuple, list) and args:
        return tuple(_convert(args[0], v) for v in value)
    if origin is not None and args:  # Optional[X], X | None
        return _convert(args[0], value)
    if tp is Path:
        return Path(value)
    return tuple(value) if isinstance(value, list) else value


def from_dict(cls: type[T], data: dict) -> T:
    """Rebuild a dataclass from to_dict() output; unknown keys are an error that names them."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; valid: {sorted(names)}")
    return cls(**{k: _convert(hints[k], v) for k, v in data.items()})


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: for logging configs as params."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out
