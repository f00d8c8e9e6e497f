"""`grainloop leaderboard`: every registered model version scored on a release's test split, with outside entries."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from grainloop.model_commands import Project

console = Console()
app = typer.Typer(no_args_is_help=True)


@app.command()
def leaderboard(release: Annotated[Path, typer.Option(help="a release folder (grainloop dataset release)")],
                model: Annotated[Optional[str], typer.Option(
                    help="registered model name (default: the loop's, grainloop-segmentation)")] = None,
                private: Annotated[Optional[Path], typer.Option(
                    help="the private folder of a release that withholds its test masks (--withhold-test-masks)")
                ] = None,
                project: Project = Path(".")) -> None:
    """Score each registered version not yet on the release's leaderboard (its test split only, the promotion
    metrics; recorded scores are reused), then write leaderboard.csv/.md/.png in the release, log them to MLflow
    and print the table."""
    from dataset.leaderboard import LeaderboardError
    from dataset.leaderboard_report import table_rows
    from flows.leaderboard import TABLE_METRICS, LeaderboardConfig, build_leaderboard
    from flows.tracking import MODEL_NAME, SCORE, TrackingConfig

    tracking = TrackingConfig.for_project(project, model_name=model or MODEL_NAME)
    try:
        board = build_leaderboard(LeaderboardConfig(release, tracking, private))
    except LeaderboardError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1)
    header, cells = table_rows(board.rows, SCORE, TABLE_METRICS)
    table = Table(title=f"Leaderboard — {board.release} (test split, sha256 {board.digest[:12]})",
                  box=box.SIMPLE_HEAD)
    for name in header:
        table.add_column(name, no_wrap=True, justify="left" if name in ("entry", "source") else "right")
    for row in cells:
        table.add_row(*row)
    # never cut a name or a score short: a terminal narrower than the table wraps its lines instead
    needed = console.measure(table, options=console.options.update_width(10_000)).maximum
    Console(width=max(console.width, needed)).print(table)
    console.print(f"{len(board.scored)} version(s) scored now ({', '.join(board.scored) or 'none'}), "
                  f"{len(board.reused)} reused from the leaderboard; files: "
                  + ", ".join(str(p) for p in board.files) + f"; MLflow run {board.run_id}")
    if board.skipped:
        console.print(f"not scored, another label schema than the release's: {'; '.join(board.skipped)}",
                      style="yellow", markup=False, highlight=False)
