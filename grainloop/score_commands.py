"""`grainloop score`: blind scoring of an outside submission against a release's (possibly withheld) test masks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()
app = typer.Typer(no_args_is_help=True)


def _table(values: dict, keys: tuple[str, ...]) -> Table:
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in keys:
        if values.get(key) not in (None, ""):
            table.add_row(key, f"{float(values[key]):.4g}")
    return table


@app.command()
def score(release: Annotated[Path, typer.Option(help="a release folder (grainloop dataset release)")],
          predictions: Annotated[Path, typer.Option(
              help="folder of PNGs named by test image id: 16-bit instance maps (0 = background) or 8-bit class "
                   "maps (pixel metrics only)")],
          private: Annotated[Optional[Path], typer.Option(
              help="the private folder of a release that withholds its test masks (--withhold-test-masks)")] = None,
          out: Annotated[Path, typer.Option(help="JSON file of the scores")] = Path("score.json"),
          kind: Annotated[str, typer.Option(help="auto (16-bit: instance maps, 8-bit: class maps), instance or "
                                                 "class")] = "auto",
          name: Annotated[Optional[str], typer.Option(
              help="record the score as this outside entry in the release's leaderboard.csv (the same name and "
                   "files: the recorded score is reused)")] = None) -> None:
    """Score a folder of predictions against the release's test split; writes a JSON and prints a table."""
    from dataset.leaderboard import LEADERBOARD, LeaderboardError, outside_entry
    from dataset.score import HEADLINE, ScoreConfig, SubmissionError, score_submission

    def run() -> dict:
        result = score_submission(ScoreConfig(release, predictions, private, kind))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=float))
        return result

    try:
        if name is None:
            result, reused = run(), False
            values, kind_found, images = result["metrics"], result["kind"], result["images"]
        else:
            values, reused = outside_entry(release, name, predictions, run, HEADLINE)
            kind_found, images = values["kind"], values["images"]
    except (SubmissionError, LeaderboardError) as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1)
    console.print(f"{images} test images scored as {kind_found} maps"
                  + (" (pixel metrics only)" if kind_found == "class" else " (pixel and grain metrics)"))
    console.print(_table(values, HEADLINE))
    if reused:
        console.print(f"entry {name!r}: the score recorded in {release / LEADERBOARD} for these files (reused)")
    else:
        console.print(f"scores written: {out}" + (f"; entry {name!r} added to {release / LEADERBOARD}" if name else ""))
