"""`grainloop model promote | rollback`: move the registered model's `champion` alias by the written rule."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True, help="Registered models in MLflow: promotion by rule, and rollback.")

Project = Annotated[Path, typer.Option(help="project folder (its .grainloop/ holds the embedded MLflow store; "
                                            "MLFLOW_TRACKING_URI overrides it)")]
Rule = Annotated[Optional[Path], typer.Option(help="promotion rule YAML (default: <project>/mlflow/promotion.yaml)")]


def _tracking(project: Path):
    from flows.tracking import TrackingConfig

    return TrackingConfig.for_project(project)


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _show(rows) -> None:
    table = Table("check", "metric", "challenger", "champion", "delta", "limit", "passed")
    for r in rows:
        table.add_row(*(_fmt(r[k]) for k in ("check", "metric", "challenger", "champion", "delta", "limit", "passed")))
    console.print(table)


@contextmanager
def _dataset_target(project: Path, tag: Optional[str]):
    """The test split of a dataset version, checked out into a temporary folder."""
    from dataset.commit import checkout_version
    from flows.evaluation import EvalTarget
    from dataset.versioning import VersionConfig, latest

    cfg = VersionConfig(project.resolve())
    tag = tag or getattr(latest(cfg), "tag", None)
    if tag is None:
        console.print(f"[red]{project} has no dataset version (dataset-vN); version one, or use --recorded[/]")
        raise typer.Exit(1)
    with tempfile.TemporaryDirectory() as tmp:
        yield EvalTarget(checkout_version(cfg, tag, Path(tmp) / "data"), tag)


@app.command()
def promote(
    version: Annotated[int, typer.Option(help="the registered version to judge (e.g. the one tagged challenger)")],
    project: Project = Path("."),
    rule: Rule = None,
    dataset: Annotated[Optional[str], typer.Option(help="dataset version whose test split judges both "
                                                        "(default: the newest dataset-vN of the project)")] = None,
    recorded: Annotated[bool, typer.Option(help="compare the metrics recorded at training instead of evaluating")] = False,
) -> None:
    """Make VERSION the `champion` if the promotion rule allows it; record the decision either way.

    By default VERSION and the champion are evaluated on the frozen test split of the newest dataset version
    (each evaluation is logged to MLflow and reused). With --recorded, the final metrics on the training runs are
    compared, and both runs must name the same evaluation dataset, else the promotion is refused.

    With no champion yet, VERSION must pass the rule's absolute minimums. Exits with status 1 when refused.
    """
    from flows.promotion import load_rule, promote as run_promote

    judge = load_rule(rule or project / "mlflow" / "promotion.yaml")
    if recorded:
        decision = run_promote(_tracking(project), version, judge)
    else:
        with _dataset_target(project, dataset) as target:
            decision = run_promote(_tracking(project), version, judge, target)
    _show(decision.rows)
    for reason in decision.reasons:
        console.print(f"  {reason}")
    outcome = "[green]promoted to champion[/]" if decision.promote else "[red]refused[/]"
    console.print(f"version {version}: {outcome}")
    if not decision.promote:
        raise typer.Exit(1)


@app.command()
def rollback(project: Project = Path(".")) -> None:
    """Move `champion` back to the previous champion (recorded in MLflow as a rollback run)."""
    from flows.promotion import RollbackError, rollback as run_rollback

    try:
        old, new = run_rollback(_tracking(project))
    except RollbackError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"champion: version {old} -> version {new}")
