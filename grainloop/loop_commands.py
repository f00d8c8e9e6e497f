"""`grainloop cycle | serve`: run the saved loop once, or serve it on a schedule and on Label Studio webhooks."""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from grainloop.options import ConfigOpt, loop_file, loop_prefect

app = typer.Typer()



@app.command()
def cycle(config: ConfigOpt = None,
          wait: Annotated[bool, typer.Option(help="wait for a cycle already running instead of exiting")] = False,
          ) -> None:
    """One cycle: sync annotations, version the dataset, train, evaluate and promote, pre-annotate.
    Each step skips what has nothing new to do; a second cycle at the same time waits (--wait) or exits."""
    config = loop_file(config)
    loop_prefect(config)
    from flows.cycle import CycleBusy, cycle as run_cycle
    from flows.loop_config import load_loop_config
    from flows.serve import summary

    try:
        load_loop_config(config)  # a missing or bad file fails here, before a flow run is made
        report = run_cycle(str(config.resolve()), wait)  # the flow's parameter is the path, never the URIs
    except (CycleBusy, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(summary(report), indent=2))


@app.command()
def serve(
    config: ConfigOpt = None,
    interval: Annotated[Optional[float], typer.Option(help="minutes between scheduled cycles (none: on demand)")] = None,
    webhook: Annotated[bool, typer.Option(help="also receive Label Studio annotation webhooks")] = False,
    webhook_port: Annotated[int, typer.Option(help="the receiver's port on 127.0.0.1")] = 8765,
    debounce: Annotated[float, typer.Option(help="seconds of quiet after the last annotation before a run")] = 30.0,
    backend: Annotated[bool, typer.Option(help="also serve the champion as a Label Studio ML backend "
                                               "(`grainloop backend`), connected to the project")] = False,
    backend_port: Annotated[int, typer.Option(help="the ML backend's port on 127.0.0.1 (0: a free one)")] = 0,
) -> None:
    """Serve the cycle as a Prefect deployment (`grainloop-cycle/loop`): on an interval schedule, on
    `prefect deployment run`, and with --webhook when annotators save work (debounced; registered with the
    loop's Label Studio project). A schedule, and runs asked for from other processes, need a Prefect server
    (`grainloop prefect up`, then PREFECT_API_URL); the webhook alone works in no-server mode. Blocks until
    interrupted."""
    config = loop_file(config)
    loop_prefect(config)
    from flows.backend import BackendConfig
    from flows.serve import ServeConfig, serve as run_serve
    from flows.webhook import ReceiverConfig

    receiver = ReceiverConfig(port=webhook_port, debounce_s=debounce) if webhook else None
    try:
        model_backend = BackendConfig(port=backend_port) if backend else None
        run_serve(ServeConfig(config, interval, receiver, model_backend), log=typer.echo)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
