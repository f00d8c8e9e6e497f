"""`grainloop campaign plan | review | status | close`: a team annotation campaign on the loop's Label Studio project
(flows/campaign.py, flows/campaign_status.py)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from grainloop.options import loop_file, loop_prefect

app = typer.Typer(no_args_is_help=True, help="Team annotation campaigns on the loop's Label Studio project.")
LoopOpt = Annotated[Optional[Path], typer.Option("--loop", "--config", help="the loop's loop.json (default: "
                                                 "loop/loop.json from `grainloop init`)")]
NameOpt = Annotated[str, typer.Option(help="the campaign's name (its folder under the loop's state)")]


@contextmanager
def _loop(loop: Optional[Path]) -> Iterator:
    """The loop's configuration; every expected failure (a refused request, Label Studio down, no dataset
    version, no such campaign) ends the command with one error line and exit status 1."""
    config = loop_file(loop)
    loop_prefect(config)
    import httpx

    from dataset.versioning import VersioningError
    from flows.loop_config import load_loop_config
    from labeling.api import LabelStudioError
    from labeling.campaign import CampaignError
    from labeling.importer import ImportConfigError
    from labeling.settings import SettingsError

    try:
        yield load_loop_config(config)
    except (CampaignError, FileNotFoundError, SettingsError, LabelStudioError, ImportConfigError,
            VersioningError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        typer.echo(f"error: Label Studio did not answer ({type(exc).__name__}); is it up? "
                   "(`grainloop labelstudio status`)", err=True)
        raise typer.Exit(1) from None


@app.command()
def plan(
    annotator: Annotated[list[str], typer.Option("--annotator", help="an annotator's e-mail (repeat the option)")],
    tasks_each: Annotated[int, typer.Option(help="tasks each annotator labels, gold tasks not counted")],
    loop: LoopOpt = None,
    overlap_share: Annotated[float, typer.Option(help="share of the campaign's tasks labelled by --overlap "
                                                      "annotators, for agreement")] = 0.2,
    overlap: Annotated[int, typer.Option(help="annotators on each overlap task")] = 2,
    gold: Annotated[int, typer.Option(help="gold tasks (accepted masks of the latest dataset version), labelled "
                                           "by every annotator, unannounced")] = 0,
    reviewer: Annotated[Optional[list[str]], typer.Option("--reviewer", help="a reviewer's e-mail: an account "
                                                                             "with a token, no tasks")] = None,
    name: NameOpt = "campaign",
) -> None:
    """Plan a campaign on the loop's project and apply it: annotator accounts made when missing, the open tasks
    ranked highest by the champion's score, served by Label Studio's label stream ("Label All Tasks") in that
    order, overlap and gold tasks first. Planning again with the same options resumes it. Passwords and tokens go only to the
    campaign's owner-only accounts file; this prints where it is."""
    from flows.campaign import plan_campaign
    from labeling.campaign import CampaignSpec

    with _loop(loop) as cfg:
        spec = CampaignSpec(tuple(annotator), tasks_each, overlap_share, overlap, gold)
        outcome = plan_campaign(cfg, spec, name, tuple(reviewer or ()))
    done = outcome.plan
    typer.echo(f"campaign {done.name!r} {'resumed' if outcome.resumed else 'planned'} on project "
               f"{done.project_id}: {done.describe()}")
    typer.echo(f"{len(done.held_out)} open task(s) outside the campaign are held out of the label stream")
    typer.echo(f"plan: {outcome.plan_file}")
    typer.echo(f"accounts (passwords and API tokens, owner-only): {outcome.accounts_file}")


@app.command()
def review(
    annotation: Annotated[int, typer.Option("--annotation", help="the annotation's id in Label Studio")],
    accept: Annotated[Optional[bool], typer.Option("--accept/--reject", help="the verdict")] = None,
    comment: Annotated[str, typer.Option(help="what the annotator reads with the verdict")] = "",
    as_email: Annotated[Optional[str], typer.Option("--as", help="review as this campaign account (its token "
                                                                 "from the accounts file); default: the admin")] = None,
    loop: LoopOpt = None,
    name: NameOpt = "campaign",
) -> None:
    """Accept or reject a submitted annotation, with a comment. The verdict goes to the task's meta and the
    annotation's last action; a rejected annotation stays out of the dataset until its annotator changes it,
    then waits for a new verdict."""
    if accept is None:
        typer.echo("error: say --accept or --reject", err=True)
        raise typer.Exit(2)
    from flows.campaign import review_annotation

    with _loop(loop) as cfg:
        verdict = review_annotation(cfg, annotation, accept, comment, name, as_email)
    typer.echo(f"annotation {annotation} {verdict.verdict} by {verdict.reviewer or 'the admin'}")


@app.command()
def status(
    loop: LoopOpt = None,
    name: NameOpt = "campaign",
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON (for scripts)")] = False,
    log: Annotated[bool, typer.Option(help="log the report to MLflow")] = True,
) -> None:
    """Per annotator: tasks done / assigned, median lead time, agreement with the consensus, accuracy on gold
    tasks, edit cost, rejections; the tasks held for review, progress over time and the pairwise agreement
    matrix. Writes status.png, status.html and status.json in the campaign's folder and logs them to MLflow,
    tagged with the latest dataset version."""
    from rich.console import Console

    from flows.campaign_report import sections
    from flows.campaign_status import campaign_report
    from grainloop.status_commands import render_sections

    with _loop(loop) as cfg:
        report = campaign_report(cfg, name, log)
    if as_json:
        typer.echo(json.dumps({**report.status.to_dict(), "report": [str(f) for f in report.files],
                               "dataset": report.dataset, "mlflow_run": report.run_id}, indent=1))
        return
    Console().print(render_sections(f"grainloop campaign {name}", sections(report.status)))
    typer.echo(f"report: {report.files[1]}")


@app.command()
def close(
    loop: LoopOpt = None,
    name: NameOpt = "campaign",
) -> None:
    """End a campaign: the open tasks it held out of the label stream get overlap 1 back (unless another open
    campaign holds them) and the project's settings it changed are restored. Its status still works; planning it
    again is refused. Running it again changes nothing."""
    from flows.campaign import close_campaign

    with _loop(loop) as cfg:
        done, change = close_campaign(cfg, name)
    kept = len(done.held_out) - len(change.released)
    typer.echo(f"campaign {done.name!r} closed ({done.closed_at}): {len(change.released)} held-out task(s) back in "
               f"the label stream" + (f", {kept} still held by another open campaign" if kept else ""))
    typer.echo("project settings restored: " + (", ".join(f"{k} {v}" for k, v in change.settings.items())
                                                if change.settings is not None else
                                                "no, another open campaign on the project still needs them"))
