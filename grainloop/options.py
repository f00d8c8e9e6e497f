"""Option types and parsers of command-line values shared by the CLI's command modules."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer

from foundation.schema import LabelSchema, binary_schema

T = TypeVar("T")
Opt = Annotated[Optional[T], typer.Option()]  # a training option: None keeps TrainConfig's value (ml/train.py)


def load_schema(path: Optional[Path]) -> LabelSchema:
    """The label schema of a --schema YAML file; grain/background when none is given."""
    return LabelSchema.load(path) if path else binary_schema()


def parse_ints(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """'128,64,32' -> (128, 64, 32); None when the option is not given."""
    return tuple(int(v) for v in text.split(",")) if text else None


def parse_floats(text: Optional[str]) -> Optional[tuple[float, ...]]:
    """'1,2.5' -> (1.0, 2.5); None when the option is not given."""
    return tuple(float(v) for v in text.split(",")) if text else None
