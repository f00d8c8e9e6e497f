"""The label schema: one source of truth for class names, colours, order and mask values.

Mask value 0 is always background (unlabelled); the schema's classes take values 1..K in file order.
With ``boundary: true`` models get one more output class, the grain boundary, derived from instance maps.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

TOOLS = ("brush", "polygon")
BACKGROUND = "background"


@dataclass(frozen=True)
class LabelClass:
    name: str
    color: str = "#ff7f0e"


@dataclass(frozen=True)
class LabelSchema:
    name: str
    classes: tuple[LabelClass, ...]
    tool: str = "brush"
    boundary: bool = False

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("a label schema needs at least one class")
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names) or BACKGROUND in names:
            raise ValueError(f"class names must be unique and not {BACKGROUND!r}: {names}")
        if self.tool not in TOOLS:
            raise ValueError(f"unknown tool {self.tool!r}; choose one of {', '.join(TOOLS)}")

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the mask values 0..K (background first)."""
        return (BACKGROUND, *(c.name for c in self.classes))

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the model's output classes (mask classes, then the boundary class if any)."""
        return self.class_names + (("boundary",) if self.boundary else ())

    @property
    def num_outputs(self) -> int:
        return len(self.output_names)

    def value_of(self, name: str) -> int:
        try:
            return self.class_names.index(name)
        except ValueError:
            raise KeyError(f"unknown label {name!r}; schema {self.name!r} has {', '.join(self.class_names)}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def hash(self) -> str:
        """A short, stable hash recorded wherever masks are produced."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: dict) -> "LabelSchema":
        classes = tuple(LabelClass(**c) if isinstance(c, dict) else LabelClass(str(c)) for c in d["classes"])
        return cls(name=d["name"], classes=classes, tool=d.get("tool", "brush"), boundary=bool(d.get("boundary", False)))

    @classmethod
    def load(cls, path: str | Path) -> "LabelSchema":
        return cls.from_dict(yaml.safe_load(Path(path).read_text()))


def binary_schema(boundary: bool = False) -> LabelSchema:
    """The default schema: grain versus background."""
    return LabelSchema(name="grains", classes=(LabelClass("grain", "#ff7f0e"),), boundary=boundary)
