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


user_app = typer.Typer(no_args_is_help=True, help="Annotator accounts on the Label Studio server.")
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="GRAINLOOP_USER_PASSWORD",
                                          help="the account's password (asked for; or GRAINLOOP_USER_PASSWORD)")],
    first_name: str = "", last_name: str = "",
    settings: SettingsOpt = None,
) -> None:
    """An annotator account in the admin's organisation (sees its projects); an existing one is kept as it is."""
    from labeling.api import Connection, LabelStudioError
    from labeling.settings import load_settings
    from labeling.users import ensure_user

    try:
        with Connection.open(load_settings(_settings_file(settings))) as conn:
            user_id = ensure_user(conn, email, password, first_name, last_name)
    except (LabelStudioError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{email}: user {user_id} (log in at {conn.settings.url}/user/login/)")
