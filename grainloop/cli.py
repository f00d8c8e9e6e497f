"""The one CLI, `grainloop`, that fronts the whole project. Every command has --help."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from grainloop import labeling_commands, ml_commands, model_commands
from grainloop import simulate_commands
from grainloop import analytics_commands
from grainloop import server_commands
from grainloop import dataset_commands
from grainloop import loop_commands
from grainloop import status_commands
from grainloop import init_commands
from grainloop import campaign_commands
from grainloop import backend_commands
from grainloop import score_commands
from grainloop import scale_commands
from grainloop import leaderboard_commands
from grainloop import stack_commands

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Grow SEM grain segmentation datasets and models through a human labeling loop.")
app.add_typer(ml_commands.app, name=None)
app.add_typer(simulate_commands.app, name=None)
app.add_typer(analytics_commands.app, name=None)
app.add_typer(init_commands.app, name=None)
app.add_typer(loop_commands.app, name=None)
app.add_typer(status_commands.app, name=None)
app.add_typer(init_commands.config_app, name="config")
app.add_typer(labeling_commands.app, name="labelstudio")
app.add_typer(model_commands.app, name="model")
app.add_typer(server_commands.mlflow_app, name="mlflow")
app.add_typer(server_commands.prefect_app, name="prefect")
app.add_typer(dataset_commands.app, name="dataset")
app.add_typer(campaign_commands.app, name="campaign")
app.add_typer(backend_commands.app, name=None)
app.add_typer(score_commands.app, name=None)
app.add_typer(scale_commands.app, name="scale")
app.add_typer(leaderboard_commands.app, name=None)
app.add_typer(stack_commands.app, name="stack")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the demo's data, services' state and reports")] = Path("runs/demo"),
    cycles: Annotated[int, typer.Option(help="labeling cycles to run")] = 3,
    per_cycle: Annotated[int, typer.Option(help="tasks the simulated annotator labels before each later cycle")] = 8,
    first: Annotated[int, typer.Option(help="tasks it labels before the first cycle (a weak first champion)")] = 4,
    minutes: Annotated[float, typer.Option(help="training time cap per cycle, a safety net: the budget is --epochs")] = 5.0,
    epochs: Annotated[int, typer.Option(help="training epochs per cycle (of 64 patches), the same every cycle")] = 12,
    min_iou: Annotated[float, typer.Option(help="the first champion's minimum mean foreground test IoU")] = 0.3,
    images: Annotated[Optional[Path], typer.Option(help="your images instead of generated ones (needs --masks)")] = None,
    masks: Annotated[Optional[Path], typer.Option(help="class maps of --images, for the simulated annotator")] = None,
    mask_kind: Annotated[str, typer.Option(help="class, or instance for instance maps (EMPS segmaps)")] = "class",
    strategy: Annotated[str, typer.Option(help="active-learning strategy ranking the tasks")] = "kcenter",
    n_images: Annotated[int, typer.Option("--n-images", help="generated images")] = 40,
    heldout: Annotated[int, typer.Option(help="generated images never imported: every champion's fixed yardstick")] = 16,
    size: Annotated[int, typer.Option(help="side of a generated SEM grain field, pixels")] = 384, seed: int = 0,
    warm_lr: Annotated[float, typer.Option(help="learning rate of a cycle that starts from the champion")] = 5e-4,
    test_fraction: Annotated[float, typer.Option(help="share of new images in the test split, which judges "
                                                      "promotion")] = 0.3,
) -> None:
    """The main job: local Label Studio, DVC, MLflow and Prefect run the full loop with a SIMULATED annotator
    on generated SEM grain fields (or --images/--masks). The services stay up until `grainloop down`."""
    from grainloop.demo import DemoOptions, run_demo

    try:
        opts = DemoOptions(out, cycles, per_cycle, minutes, epochs, min_iou, images, masks, mask_kind, strategy,
                           n_images, size, seed, first=first, heldout=heldout, warm_lr=warm_lr,
                           test_fraction=test_fraction)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    run_demo(opts)


@app.command()
def down(out: Annotated[Path, typer.Option(help="the demo's folder")] = Path("runs/demo")) -> None:
    """Stop the demo's Label Studio and MLflow servers."""
    from flows.mlflow_server import MlflowServerConfig, down as mlflow_down
    from labeling.lifecycle import down as labelstudio_down

    stopped = labelstudio_down(out.resolve() / "labelstudio.json")
    stopped_ml = mlflow_down(MlflowServerConfig(project=(out / "workspace").resolve()))
    typer.echo(f"Label Studio {'stopped' if stopped else 'was not running'}; "
               f"MLflow {'stopped' if stopped_ml else 'was not running'}")


def main() -> None:
    app(prog_name="grainloop")
