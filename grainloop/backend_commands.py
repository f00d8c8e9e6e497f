"""`grainloop backend`: serve the loop's champion to Label Studio as an ML backend, connected to its project."""
from __future__ import annotations

from typing import Annotated

import typer

from grainloop.options import ConfigOpt, loop_file, loop_prefect

app = typer.Typer()


@app.command()
def backend(
    config: ConfigOpt = None,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: a free one)")] = 0,
    refresh: Annotated[float, typer.Option(help="seconds between reads of the champion alias")] = 5.0,
    connect: Annotated[bool, typer.Option(help="connect it to the loop's Label Studio project")] = True,
) -> None:
    """Serve the champion as a Label Studio ML backend (health, setup, predict) on 127.0.0.1 and connect it to
    the loop's project, which then asks it for predictions when a task is opened and on "Retrieve predictions".
    A promotion is picked up without a restart; predictions carry the champion's registry version. A rerun
    updates the connection instead of adding one. Blocks until interrupted."""
    config = loop_file(config)
    loop_prefect(config)
    from flows.backend import Backend, BackendConfig
    from flows.backend_model import PredictorConfig
    from flows.loop_config import load_loop_config

    try:
        loop = load_loop_config(config)
        cfg = BackendConfig(port=port, predictor=PredictorConfig(refresh_s=refresh), connect=connect)
        server = Backend(loop, cfg).start()
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    version = server.predictor.model_version() or "none yet"
    where = f", connected to project {server.project} (connection {server.connection})" if connect else ""
    typer.echo(f"ML backend at {server.url} serving champion {version}{where}; Ctrl-C stops it")
    server.wait()
