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


@app.command()
def score(release: Annotated[Path, typer.Option(help="a release folder (grainloop dataset release)")],
          predictions: Annotated[Path, typer.Option(
              help="folder of PNGs named by test image id: 16-bit instance maps (0 = background) or 8-bit class "
                   "maps (pixel metrics only)")],
          private: Annotated[Optional[Path], typer.Option(
              help="the private folder of a release that withholds its test masks (--withhold-test-masks)")] = None,
          out: Annotated[Path, typer.Option(help="JSON file of the scores")] = Path("score.json"),
          kind: Annotated[str, typer.Option(help="auto (16-bit: instance maps, 8-bit: class maps), instance or "
                                                 "class")] = "auto") -> None:
    """Score a folder of predictions against the release's test split; writes a JSON and prints a table."""
    from dataset.score import HEADLINE, ScoreConfig, SubmissionError, score_submission

    try:
        result = score_submission(ScoreConfig(release, predictions, private, kind))
    except SubmissionError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float))
    kind = result["kind"]
    console.print(f"{result['images']} {result['split']} images scored as {kind} maps"
                  + (" (pixel metrics only)" if kind == "class" else " (pixel and grain metrics)"))
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in HEADLINE:
        if key in result["metrics"]:
            table.add_row(key, f"{result['metrics'][key]:.4g}")
    console.print(table)
    console.print(f"scores written: {out}")
