"""`grainloop mlflow | prefect  up | down | status`: the local servers of flows.local_server, one command set."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Callable

import typer

ProjectOpt = Annotated[Path, typer.Option(help="project folder; its .grainloop/ holds the store, log and record")]


def server_app(title: str, make: Callable[[Path, int], object], default_port: int, env_hint: Callable[[object], str],
               help: str) -> typer.Typer:
    """A Typer app with up, down and status for the server that ``make(project, port).server()`` describes."""
    app = typer.Typer(no_args_is_help=True, help=help)
    name = title.lower()

    @app.command()
    def up(port: Annotated[int, typer.Option(help="port on 127.0.0.1; a busy port is an error")] = default_port,
           project: ProjectOpt = Path(".")) -> None:
        """Start the server detached and wait until it answers; reuse the recorded one if it runs."""
        from flows.local_server import LocalServerError, up as start_up

        config = make(project, port)
        try:
            record, started = start_up(config.server())
        except LocalServerError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        extra = "".join(f"; {k} {v}" for k, v in record.details.items())
        typer.echo(f"{title} {'started' if started else 'already running'} at {record.url} (pid {record.pid})"
                   f"{extra}; log {record.log}")
        typer.echo("Point runs at it:")
        typer.echo(env_hint(record))

    @app.command()
    def down(project: ProjectOpt = Path(".")) -> None:
        """Stop the server that `up` started (by its recorded PID)."""
        from flows.local_server import down as stop_down

        stopped = stop_down(make(project, default_port).server())
        typer.echo(f"{title} server {'stopped' if stopped else 'was not running'}")

    @app.command()
    def status(project: ProjectOpt = Path(".")) -> None:
        """Print the recorded server's URL and whether it answers; exit 1 if it does not."""
        from flows.local_server import status as get_status

        current = get_status(make(project, default_port).server())
        typer.echo(current.describe(f"run `grainloop {name} up`"))
        if not (current.running and current.healthy):
            raise typer.Exit(1)

    return app


def _mlflow(project: Path, port: int):
    from flows.mlflow_server import MlflowServerConfig

    return MlflowServerConfig(project=project, port=port)


def _prefect(project: Path, port: int):
    from flows.prefect_server import PrefectServerConfig

    return PrefectServerConfig(project=project, port=port)


mlflow_app = server_app("MLflow", _mlflow, 5000, lambda r: f"export MLFLOW_TRACKING_URI={r.url}",
                        "Run a local MLflow tracking server on the project's store (.grainloop/mlflow.db).")
prefect_app = server_app("Prefect", _prefect, 4200, lambda r: f"export PREFECT_API_URL={r.details['api_url']}",
                         "Run a local Prefect server: schedules, deployment runs from other processes, the UI.")
