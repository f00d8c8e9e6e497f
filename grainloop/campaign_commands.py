"""`grainloop campaign plan`: a team annotation campaign on the loop's Label Studio project (flows/campaign.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from grainloop.options import loop_file, loop_prefect

app = typer.Typer(no_args_is_help=True, help="Team annotation campaigns on the loop's Label Studio project.")


@app.command()
def plan(
    annotator: Annotated[list[str], typer.Option("--annotator", help="an annotator's e-mail (repeat the option)")],
    tasks_each: Annotated[int, typer.Option(help="tasks each annotator labels, gold tasks not counted")],
    loop: Annotated[Optional[Path], typer.Option("--loop", "--config", help="the loop's loop.json (default: "
                                                 "loop/loop.json from `grainloop init`)")] = None,
    overlap_share: Annotated[float, typer.Option(help="share of the campaign's tasks labelled by --overlap "
                                                      "annotators, for agreement")] = 0.2,
    overlap: Annotated[int, typer.Option(help="annotators on each overlap task")] = 2,
    gold: Annotated[int, typer.Option(help="gold tasks (accepted masks of the latest dataset version), labelled "
                                           "by every annotator, unannounced")] = 0,
    name: Annotated[str, typer.Option(help="the campaign's name (its folder under the loop's state)")] = "campaign",
) -> None:
    """Plan a campaign on the loop's project and apply it: annotator accounts made when missing, the open tasks
    ranked highest by the champion's score, overlap and gold tasks through Label Studio's label stream
    ("Label All Tasks"). Planning again with the same options resumes it. Passwords and tokens go only to the
    campaign's owner-only accounts file; this prints where it is."""
    config = loop_file(loop)
    loop_prefect(config)
    import httpx

    from dataset.versioning import VersioningError
    from flows.campaign import plan_campaign
    from flows.loop_config import load_loop_config
    from labeling.api import LabelStudioError
    from labeling.campaign import CampaignError, CampaignSpec
    from labeling.importer import ImportConfigError
    from labeling.settings import SettingsError

    try:
        spec = CampaignSpec(tuple(annotator), tasks_each, overlap_share, overlap, gold)
        outcome = plan_campaign(load_loop_config(config), spec, name)
    except (CampaignError, FileNotFoundError, SettingsError, LabelStudioError, ImportConfigError,
            VersioningError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        typer.echo(f"error: Label Studio did not answer ({type(exc).__name__}); is it up? "
                   "(`grainloop labelstudio status`)", err=True)
        raise typer.Exit(1) from None
    done = outcome.plan
    typer.echo(f"campaign {done.name!r} {'resumed' if outcome.resumed else 'planned'} on project "
               f"{done.project_id}: {done.describe()}")
    typer.echo(f"{len(done.held_out)} open task(s) outside the campaign are held out of the label stream")
    typer.echo(f"plan: {outcome.plan_file}")
    typer.echo(f"accounts (passwords and API tokens, owner-only): {outcome.accounts_file}")
