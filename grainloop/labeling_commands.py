"""`grainloop labelstudio up | down | status`: a local Label Studio server for the labeling loop."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Run a local Label Studio server (its own virtual environment).")

SettingsOpt = Annotated[Optional[Path],
                        typer.Option("--settings", help="settings file (default .grainloop/labelstudio.json)")]


def _settings_file(path: Optional[Path]) -> Path:
    from labeling.settings import settings_path

    return path or settings_path()


@app.command()
def up(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1; a busy port is an error")] = 8080,
    data_dir: Annotated[Path, typer.Option(help="SQLite database and server log")] = Path(".grainloop/labelstudio"),
    document_root: Annotated[Path, typer.Option(help="folder Label Studio may serve local images from")] = Path("."),
    settings: SettingsOpt = None,
) -> None:
    """Install (first run) and start Label Studio; write its URL and token to the settings file."""
    from labeling.lifecycle import up as start_up
    from labeling.server import ServerConfig, ServerError

    config = ServerConfig(data_dir=data_dir.resolve(), document_root=document_root.resolve(), port=port)
    try:
        result, started = start_up(config, _settings_file(settings))
    except ServerError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    verb = "started" if started else "already running"
    typer.echo(f"Label Studio {verb} at {result.url} (pid {result.pid}); settings in {_settings_file(settings)}")


@app.command()
def down(settings: SettingsOpt = None) -> None:
    """Stop the Label Studio server that `up` started (by its recorded PID)."""
    from labeling.lifecycle import down as stop_down

    stopped = stop_down(_settings_file(settings))
    typer.echo("Label Studio stopped" if stopped else "Label Studio was not running")


@app.command()
def status(settings: SettingsOpt = None) -> None:
    """Say whether the recorded Label Studio server is running and answering; exit 1 if not."""
    from labeling.lifecycle import status as get_status

    current = get_status(_settings_file(settings))
    typer.echo(current.describe())
    if not (current.running and current.healthy):
        raise typer.Exit(1)
