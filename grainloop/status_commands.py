"""`grainloop status`: one screen on the loop (Label Studio, quarantine, dataset versions, champion, last cycle,
next scheduled run); --json for scripts, --report DIR for a PNG and a self-contained HTML page."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from grainloop.options import ConfigOpt, loop_file, loop_prefect

app = typer.Typer()


def render(status) -> Group:
    """The screen: one table per section of flows/status_report.py, an unavailable source as its reason."""
    from flows.status_report import sections

    return render_sections(f"grainloop status at {status.collected_at}  (workspace {status.workspace})",
                           sections(status))


def render_sections(heading: str, sections) -> Group:
    """A heading and one table per Section (flows/status_report.py); an empty one as its note."""
    parts = [Text(heading, style="bold")]
    for section in sections:
        if not section.rows:
            style = "yellow" if section.note.startswith("unavailable") else "dim"
            parts.append(Text.assemble((section.title, "bold"), ": ", (section.note or "-", style)))
            continue
        table = Table(title=Text(section.title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD,
                      show_edge=False, show_header=any(section.columns), caption_justify="left",
                      caption=Text(section.note) if section.note else None)
        for column in section.columns:
            table.add_column(column)
        for row in section.rows:
            table.add_row(*(Text(cell) for cell in row))  # server data: shown as is, never read as Rich markup
        parts.append(table)
    return Group(*parts)


@app.command()
def status(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON (for scripts)")] = False,
    report: Annotated[Optional[Path], typer.Option(help="also write status.png and status.html to this folder")] = None,
) -> None:
    """The loop at a glance: Label Studio tasks (annotated, in progress, skipped, open with the champion's predictions)
    and annotators (submissions, median lead time), quarantined annotations, dataset versions (images per split,
    size), the champion (test metrics, lineage), the last cycle (outcome, seconds per step) and the next scheduled
    run. A source that cannot be read says why; the others are still shown."""
    from flows.loop_config import load_loop_config

    config = loop_file(config)
    loop_prefect(config)  # before anything imports prefect: its state folder, the loop's Prefect server
    try:
        loop = load_loop_config(config)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    from flows.status import collect
    from flows.status_report import write_report

    found = collect(loop)
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2))
    else:
        Console().print(render(found))
    if report is not None:
        png, html = write_report(found, report)
        typer.echo(f"report: {html} (plots: {png})", err=as_json)
