"""Option types and parsers of command-line values shared by the CLI's command modules."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar

import typer

if TYPE_CHECKING:
    from foundation.schema import LabelSchema

T = TypeVar("T")
Opt = Annotated[Optional[T], typer.Option()]  # a training option: None keeps TrainConfig's value (ml/train.py)


def load_schema(path: Optional[Path], mask_kind: str = "class") -> LabelSchema:
    """The label schema of a --schema YAML file; grain/background when none is given, with the grain boundary
    class when the masks are instance maps: the grains they part are what a model learns to split touching grains
    by (docs/benchmarks.md, "Grains you can count")."""
    from foundation.schema import LabelSchema, binary_schema

    return LabelSchema.load(path) if path else binary_schema(boundary=mask_kind == "instance")


def parse_ints(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """'128,64,32' -> (128, 64, 32); None when the option is not given."""
    return tuple(int(v) for v in text.split(",")) if text else None


def parse_floats(text: Optional[str]) -> Optional[tuple[float, ...]]:
    """'1,2.5' -> (1.0, 2.5); None when the option is not given."""
    return tuple(float(v) for v in text.split(",")) if text else None


ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="the loop's saved configuration (default: loop/loop.json from `grainloop init`, "
                     "else the demo's runs/demo/loop.json)")]


def loop_file(config: Optional[Path]) -> Path:
    """The loop configuration a verb works on: --config, else init's default, else the demo's."""
    from flows.loop_config import DEFAULT_LOOP, LOOP_FILE

    if config is not None:
        return config
    demo = Path("runs") / "demo" / LOOP_FILE
    return DEFAULT_LOOP if DEFAULT_LOOP.exists() or not demo.exists() else demo


def loop_prefect(config: Path) -> None:
    """Prefect's settings for a verb on the loop at ``config``: its state folder, and the Prefect server
    `grainloop init --prefect-api-url` recorded (PREFECT_API_URL in the environment still wins)."""
    import json

    from flows.prefect_env import prefect_env

    try:
        api = json.loads(config.read_text()).get("prefect_api_url") if config.is_file() else None
    except ValueError:
        api = None  # a bad file is reported by the loader, with its reason
    prefect_env(config.resolve().parent, api)
