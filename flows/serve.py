"""Triggers of the loop: a served Prefect deployment of the cycle (on a schedule, on demand), and the webhook;
optionally the champion served beside them as a Label Studio ML backend (flows/backend.py).

``loop_cycle`` is the deployable entry point: it takes the path of a saved loop configuration (JSON), so a
scheduled run, a webhook run and ``grainloop cycle`` all rebuild the same typed configuration. The threshold
trigger lives in the cycle itself: a dataset version (and so a training run) is made only once at least
``min_new_annotations`` finished annotations came in since the last version; a run below it only pulls.

The deployment has a Prefect concurrency limit of one, on top of the cycle's own lock: a second run waits for
its slot instead of starting beside the first.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Optional

from prefect import flow

from flows.backend import Backend, BackendConfig
from flows.cycle import CycleReport, run_cycle
from flows.cycle_record import error_text
from flows.loop_config import LoopConfig, load_loop_config
from flows.registry import log_files
from flows.status import collect
from flows.status_report import write_report
from flows.tracking import KIND_STATUS, TAG_KIND, tracked_run
from flows.webhook import TOKEN_HEADER, ReceiverConfig, WebhookReceiver, deployment_trigger
from labeling.api import Connection
from labeling.projects import ProjectSpec, ensure_project
from labeling.settings import load_settings
from labeling.webhooks import register_webhook

FLOW_NAME = "grainloop-cycle"
DEPLOYMENT = "loop"
STATUS_DIR = "status"  # in the state folder: the status report refreshed after each served cycle


def summary(report: CycleReport) -> dict:
    """What a cycle did, as plain JSON (a flow run's result)."""
    decision = report.decision
    return {"synced": report.sync.added + report.sync.updated, "dropped": [list(d) for d in report.sync.dropped],
            "waiting": [f"{w['source']}: {w['annotated']} of {w['tiles']} tiles" for w in report.sync.waiting],
            "quarantined": [f"task {q.get('task_id')}: {q.get('reason')}" for q in report.sync.quarantined],
            "dataset": report.dataset,
            "new_version": report.new_version, "trained": report.trained,
            "promoted": bool(decision and decision.promote), "champion": report.champion,
            "preannotated": report.preannotate.tasks, "seconds": dict(report.seconds)}


def refresh_status(loop: LoopConfig) -> Optional[tuple[Path, Path]]:
    """`grainloop status`'s report (PNG, HTML) in the state folder's status/, and logged to MLflow in a small run
    of its own. A report that cannot be made is logged as a warning: it never fails the cycle's flow run."""
    try:
        files = write_report(collect(loop), loop.state_dir / STATUS_DIR)
        with tracked_run(loop.tracking, "status report", {TAG_KIND: KIND_STATUS}):
            log_files(files, STATUS_DIR)
        return files
    except Exception as exc:  # the report is a by-product of the run: whatever went wrong, the cycle's outcome stands
        logging.getLogger(__name__).warning("status report not refreshed: %s", error_text(exc))
        return None


@flow(name=FLOW_NAME)
def loop_cycle(config: str, wait: bool = True) -> dict:
    """One cycle of the loop saved at ``config``; a run that finds another cycle in progress waits for it. The
    status report is refreshed after it, also when it failed."""
    loop = load_loop_config(Path(config))
    try:
        return summary(run_cycle(loop, wait))  # one flow run: its steps are functions
    finally:
        refresh_status(loop)


@dataclass(frozen=True)
class ServeConfig:
    config: Path  # the saved loop configuration
    interval_minutes: Optional[float] = None  # a schedule; None: runs only on demand (webhook, `prefect deployment run`)
    webhook: Optional[ReceiverConfig] = None  # also receive Label Studio webhooks
    backend: Optional[BackendConfig] = None  # also serve the champion as a Label Studio ML backend

    @property
    def deployment_name(self) -> str:
        return f"{FLOW_NAME}/{DEPLOYMENT}"

    @property
    def parameters(self) -> dict:
        return {"config": str(Path(self.config).resolve())}


def deployment(cfg: ServeConfig):
    """The cycle's deployment: interval schedule if asked for, concurrency limit one."""
    from prefect.deployments.runner import EntrypointType

    interval = timedelta(minutes=cfg.interval_minutes) if cfg.interval_minutes else None
    return loop_cycle.to_deployment(DEPLOYMENT, interval=interval, parameters=cfg.parameters, concurrency_limit=1,
                                    entrypoint_type=EntrypointType.MODULE_PATH,
                                    description="One active-learning cycle of the saved loop configuration.")


def register(loop: LoopConfig, receiver: WebhookReceiver) -> int:
    """Point the loop's Label Studio project at the receiver (idempotent), with the shared secret if any."""
    headers = {TOKEN_HEADER: receiver.secret} if receiver.secret else None
    with Connection.open(load_settings(loop.labeling.settings_file)) as conn:
        project = ensure_project(conn.sdk, ProjectSpec(loop.labeling.project_title, loop.schema))
        return register_webhook(conn, project.id, receiver.url, receiver.cfg.actions, headers)


def start_receiver(cfg: ServeConfig, loop: LoopConfig) -> Optional[WebhookReceiver]:
    """The webhook receiver, started and registered with the project; None without a webhook."""
    if cfg.webhook is None:
        return None
    receiver = WebhookReceiver(cfg.webhook, deployment_trigger(cfg.deployment_name, cfg.parameters))
    receiver.start()
    try:
        register(loop, receiver)
    except BaseException:
        receiver.stop()
        raise
    return receiver


def serve(cfg: ServeConfig, log=print) -> None:
    """Serve the deployment (blocks until interrupted); with a webhook, also run the receiver beside it."""
    from prefect import serve as prefect_serve

    if cfg.interval_minutes and not os.environ.get("PREFECT_API_URL"):
        raise ValueError("a schedule needs a Prefect server (no-server mode has no scheduler): run "
                         "`grainloop prefect up` and export the PREFECT_API_URL it prints, then serve again")
    loop = load_loop_config(cfg.config)  # fail now, not at the first scheduled run
    receiver = start_receiver(cfg, loop)
    if receiver:
        log(f"webhook receiver at {receiver.url}, registered with project {loop.labeling.project_title!r}")
    backend = None
    try:
        if cfg.backend:
            backend = Backend(loop, cfg.backend).start()
            log(f"ML backend at {backend.url}, connected to project {loop.labeling.project_title!r}")
        prefect_serve(deployment(cfg))
    finally:
        if backend:
            backend.stop()
        if receiver:
            receiver.stop()
