"""`grainloop mlflow up | down | status`: a local MLflow server over the project's embedded store."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True,
                  help="Run a local MLflow tracking server on the project's store (.grainloop/mlflow.db).")

ProjectOpt = Annotated[Path, typer.Option(help="project folder; its .grainloop/ holds the store, log and record")]


def _config(project: Path, port: int = 5000):
    from flows.mlflow_server import MlflowServerConfig

    return MlflowServerConfig(project=project, port=port)


@app.command()
def up(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1; a busy port is an error")] = 5000,
    project: ProjectOpt = Path("."),
) -> None:
    """Start `mlflow server` detached on the project's SQLite store and artifact folder; wait until it answers."""
    from flows.mlflow_server import MlflowServerError, up as start_up

    config = _config(project, port)
    try:
        record, started = start_up(config)
    except MlflowServerError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    verb = "started" if started else "already running"
    typer.echo(f"MLflow {verb} at {record.url} (pid {record.pid}); store {record.backend_store_uri}; "
               f"log {record.log}")
    typer.echo("Point runs at it:")
    typer.echo(f"export MLFLOW_TRACKING_URI={record.url}")


@app.command()
def down(project: ProjectOpt = Path(".")) -> None:
    """Stop the MLflow server that `up` started (by its recorded PID)."""
    from flows.mlflow_server import down as stop_down

    typer.echo("MLflow server stopped" if stop_down(_config(project)) else "MLflow server was not running")


@app.command()
def status(project: ProjectOpt = Path(".")) -> None:
    """Print the recorded server's URL and whether it answers; exit 1 if it does not."""
    from flows.mlflow_server import status as get_status

    current = get_status(_config(project))
    typer.echo(current.describe())
    if not (current.running and current.healthy):
        raise typer.Exit(1)
