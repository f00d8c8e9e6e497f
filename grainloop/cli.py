"""The one CLI, `grainloop`, that fronts the whole project. Every command has --help."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grainloop import labeling_commands, ml_commands, model_commands

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Grow SEM grain segmentation datasets and models through a human labeling loop.")
app.add_typer(ml_commands.app, name=None)
app.add_typer(labeling_commands.app, name="labelstudio")
app.add_typer(model_commands.app, name="model")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the demo's data, model and reports")] = Path("runs/demo"),
    minutes: Annotated[float, typer.Option(help="training time budget")] = 3.0,
    images: int = 40, size: int = 256, seed: int = 0,
) -> None:
    """The main job on generated sample data: synthesise, train, evaluate on held-out images, report."""
    from grainloop.demo import run_demo

    run_demo(out, minutes=minutes, n_images=images, size=size, seed=seed)


def main() -> None:
    app(prog_name="grainloop")
