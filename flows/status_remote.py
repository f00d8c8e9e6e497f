"""The remote sources of `grainloop status` (flows/status.py): the champion in MLflow and the next scheduled run on
a Prefect server. Servers are probed first with a short timeout, since their clients retry for minutes."""
from __future__ import annotations

import re
from datetime import timezone
from typing import Callable, TypeVar

from flows.cycle_record import error_text
from flows.loop_config import LoopConfig
from flows.status_types import ChampionStatus, ScheduleStatus
from flows.tracking import (CHAMPION, FINAL_PREFIX, LINEAGE_TAGS, SCORE, TAG_DATASET, TAG_EVAL_PREFIX,
                            alias_version, client as make_client)

PROBE_TIMEOUT_S = 5.0  # a server that does not answer its health check within this is reported unavailable
NO_PREFECT = "no schedule (no Prefect server)"
T = TypeVar("T")


def guarded(read: Callable[[], T], unavailable: Callable[[str], T]) -> T:
    """The section ``read`` returns, or ``unavailable(why)`` when reading it fails."""
    try:
        return read()
    except Exception as exc:  # a status screen reports every failure of a source, whatever its kind
        return unavailable(error_text(exc))


def probe(url: str) -> None:
    """Raise unless the server at url answers at all within PROBE_TIMEOUT_S (clients retry for minutes)."""
    import httpx

    httpx.get(url, timeout=PROBE_TIMEOUT_S)


# ---- MLflow: the champion ------------------------------------------------------------------------------------


def _dataset_number(tag: str) -> int:
    found = re.search(r"(\d+)$", tag)
    return int(found[1]) if found else -1


def champion_status(cfg: LoopConfig) -> ChampionStatus:
    tracking, name = cfg.tracking, cfg.tracking.model_name
    if tracking.local_store is not None and not tracking.local_store.exists():
        return ChampionStatus(name, unavailable=f"no MLflow store yet at {tracking.local_store} (nothing trained)")
    if tracking.tracking_uri.startswith(("http://", "https://")):
        probe(f"{tracking.tracking_uri.rstrip('/')}/health")
    client = make_client(tracking)
    mv = alias_version(client, name, CHAMPION)
    if mv is None:
        return ChampionStatus(name, unavailable=f"no champion yet (no version of {name} holds the alias "
                                                f"{CHAMPION!r})")
    evaluations = {}  # dataset version -> metrics of the champion on its test split
    for key, run_id in mv.tags.items():
        dataset, _, split = key.removeprefix(TAG_EVAL_PREFIX).rpartition(".")
        if key.startswith(TAG_EVAL_PREFIX) and split == "test":
            evaluations[dataset] = dict(client.get_run(run_id).data.metrics)
    lineage = {k: v for k, v in mv.tags.items() if k in LINEAGE_TAGS}
    if evaluations:
        newest = max(evaluations, key=_dataset_number)
        metrics = evaluations[newest]
    else:  # evaluated only at training: the training run's final metrics
        newest = mv.tags.get(TAG_DATASET)
        recorded = client.get_run(mv.run_id).data.metrics
        metrics = {k.removeprefix(FINAL_PREFIX): v for k, v in recorded.items() if k.startswith(FINAL_PREFIX)}
    ious = {d: m[SCORE] for d, m in sorted(evaluations.items(), key=lambda i: _dataset_number(i[0])) if SCORE in m}
    return ChampionStatus(name, str(mv.version), newest, metrics, lineage, ious)


# ---- Prefect: the next scheduled run -------------------------------------------------------------------------


def schedule_status(cfg: LoopConfig) -> ScheduleStatus:
    from prefect.settings import PREFECT_API_URL

    from flows.serve import DEPLOYMENT, FLOW_NAME

    name = f"{FLOW_NAME}/{DEPLOYMENT}"
    url = PREFECT_API_URL.value() or cfg.prefect_api_url  # the environment (or a Prefect profile) first
    if not url:
        return ScheduleStatus(name, note=NO_PREFECT)
    return guarded(lambda: _next_run(url, name),
                   lambda why: ScheduleStatus(name, unavailable=f"Prefect server at {url}: {why}"))


def _next_run(url: str, name: str) -> ScheduleStatus:
    from prefect import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    probe(f"{url.rstrip('/')}/health")
    scheduled = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))
    with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            return ScheduleStatus(name, note=f"no deployment {name} on {url} (`grainloop serve` makes it)")
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                                     flow_run_filter=scheduled, sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
                                     limit=1)
    if not runs:
        return ScheduleStatus(name, note="no scheduled run (the deployment has no schedule, or it is paused)")
    when = runs[0].next_scheduled_start_time or runs[0].expected_start_time
    return ScheduleStatus(name, when.astimezone(timezone.utc).isoformat(timespec="seconds") if when else None)
