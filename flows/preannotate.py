"""`preannotate`: the champion predicts every task nobody has annotated, a sampling strategy scores each image,
and the masks go to Label Studio as pre-annotations carrying the champion's model_version and the score.

Prediction runs in Prefect tasks of a few images each, so a Dask task runner (prefect-dask) can spread them over a
cluster; the push is one bulk upload per batch, and pushing the same version again replaces instead of doubling.
"""
from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from rich.progress import track

from flows.evaluation import checkpoint
from flows.loop_config import LoopConfig
from flows.task_predictions import Predicted, inputs, load_predictor, predict_sources, predictable, task_items
from flows.tracking import (CHAMPION, KIND_PREANNOTATION, TAG_KIND, TAG_MODEL_VERSION, TAG_STRATEGY, alias_version,
                            client as make_client, lib, prediction_version, tracked_run)
from foundation.atomic import write_atomic
from labeling.api import Connection
from labeling.projects import ProjectSpec, ensure_project
from labeling.push import PushConfig, PushReport, order_by_score, push_predictions, tasks_by_source, tasks_with_version
from labeling.settings import load_settings

@dataclass(frozen=True)
class PreannotateReport:
    model_version: str | None
    tasks: int
    created: int
    replaced: int
    ranking: tuple[tuple[str, float], ...] = ()
    skipped: str = ""


def champion(cfg: LoopConfig) -> str | None:
    """The champion's registered version number, or None before the first promotion."""
    found = alias_version(make_client(cfg.tracking), cfg.tracking.model_name, CHAMPION)
    return None if found is None else str(found.version)


_loaded = threading.local()  # one model per worker thread: strategies hook into the model while predicting


def cached_model(model_file: Path):
    """load_predictor(model_file), once per thread (and per Dask worker), again only when the file changes."""
    key = (str(model_file), Path(model_file).stat().st_mtime_ns)
    if getattr(_loaded, "key", None) != key:
        _loaded.model, _loaded.key = load_predictor(model_file), key
    return _loaded.model


@task(name="predict and score", retries=1)
def predict_batch(model_file: Path, paths: Sequence[Path | Sequence[Path]], ids: Sequence[str],
                  strategy_name: str) -> list[Predicted]:
    """predict_sources with this thread's copy of the model (see flows/task_predictions.py)."""
    model, artifact = cached_model(model_file)
    return predict_sources(model, artifact, paths, ids, strategy_name)


def unlabeled_by_source(conn: Connection, project_id: int, model_version: str) -> dict[str, list[dict]]:
    """Tasks without annotations, grouped by source image, minus images whose tasks all hold this version."""
    done = tasks_with_version(conn, project_id, model_version)
    by_source = tasks_by_source(conn, project_id)
    groups = {s: [t for t in ts if not t.get("total_annotations")] for s, ts in by_source.items() if s}
    return {s: ts for s, ts in groups.items() if ts and not all(t["id"] in done for t in ts)}


def _ranking_csv(ranking) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows([("image", "score"), *ranking])
    return buf.getvalue()


def record_ranking(cfg: LoopConfig, model_version: str, ranking) -> None:
    path, text = cfg.state_dir / "rankings" / f"{model_version.replace('/', '_')}.csv", _ranking_csv(ranking)
    write_atomic(path, text)
    tags = {TAG_KIND: KIND_PREANNOTATION, TAG_MODEL_VERSION: model_version, TAG_STRATEGY: cfg.strategy}
    with tracked_run(cfg.tracking, f"preannotate {model_version}", tags):
        lib().log_text(text, "ranking.csv")


@task(name="list unannotated tasks", retries=2, retry_delay_seconds=5)
def pending(cfg: LoopConfig, model_version: str):
    """The project, and its unannotated tasks by source image that do not hold this model_version yet."""
    with Connection.open(load_settings(cfg.labeling.settings_file)) as conn:
        project = ensure_project(conn.sdk, ProjectSpec(cfg.labeling.project_title, cfg.schema))
        return project, unlabeled_by_source(conn, project.id, model_version)


@task(name="push pre-annotations", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def push(cfg: LoopConfig, project, model_version: str, items: list) -> PushReport:
    """One bulk push per batch, then the score ordering; a retry replaces what a failed attempt pushed."""
    with Connection.open(load_settings(cfg.labeling.settings_file)) as conn:
        report = push_predictions(conn, project, PushConfig(model_version), items)
        order_by_score(conn, project.id)
    return report


@flow(name="predict images", task_runner=ThreadPoolTaskRunner(max_workers=1))
def predict_images(model_file: Path, paths: Sequence[Path | Sequence[Path]], ids: Sequence[str], strategy: str,
                   batch: int = 16) -> list[Predicted]:
    """predict_batch over the images, ``batch`` at a time, on the flow's task runner: one thread by default
    (torch already uses every core for one batch), Dask workers with prefect-dask."""
    chunks = [slice(i, i + batch) for i in range(0, len(ids), batch)]
    futures = [predict_batch.submit(model_file, list(paths[c]), list(ids[c]), strategy) for c in chunks]
    done = track(futures, description=f"pre-annotating {len(ids)} images, {batch} a batch")
    return [r for f in done for r in f.result()]


def task_runner(cfg: LoopConfig):
    """Dask (prefect-dask) on the cluster at cfg.dask_address; None: Prefect's default thread pool."""
    if not cfg.dask_address:
        return None
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=cfg.dask_address)


def _predict(cfg: LoopConfig, model_file: Path, sources: list[str]) -> list[Predicted]:
    runner = task_runner(cfg)
    run = predict_images.with_options(task_runner=runner) if runner else predict_images
    return run(model_file, [inputs(cfg, s) for s in sources], sources, cfg.strategy, cfg.preannotate_batch)


def preannotate(cfg: LoopConfig) -> PreannotateReport:
    """Champion predictions and active-learning scores on the unannotated tasks, pushed to Label Studio."""
    version = champion(cfg)
    if version is None:
        return PreannotateReport(None, 0, 0, 0, skipped="no champion yet")
    model_version = prediction_version(cfg.tracking.model_name, version)
    project, groups = pending(cfg, model_version)
    groups = predictable(cfg, groups)
    if not groups:
        return PreannotateReport(model_version, 0, 0, 0, skipped="every unannotated task already has it")
    model_file = checkpoint(cfg.tracking, version, cfg.state_dir / "champion")
    results = _predict(cfg, model_file, sorted(groups))
    items, ranking = task_items(groups, results, cfg.strategy)
    report = push(cfg, project, model_version, items)
    record_ranking(cfg, model_version, ranking)
    return PreannotateReport(model_version, len(items), report.created, report.replaced, tuple(ranking))
