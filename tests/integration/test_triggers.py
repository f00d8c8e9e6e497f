"""Triggers against the real services: the served deployment (schedule, concurrency limit), a Label Studio webhook
through the receiver to one deployment run, that run executed by a Prefect runner, and the threshold."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from flows.annotator import SimulatedAnnotator
from flows.loop_config import save_loop_config
from flows.serve import ServeConfig, deployment, start_receiver
from flows.webhook import ReceiverConfig
from labeling.api import Connection
from labeling.webhooks import webhooks
from tests.helpers import flow_runs, wait_for
from tests.integration.loop_helpers import demo_setup

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_webhook_events_start_one_deployment_run_below_the_threshold_it_only_pulls(
        tmp_path, sample, server, prefect_api, monkeypatch):
    from prefect import get_client
    from prefect.runner import Runner

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the runner starts the flow in a new process from this checkout
    monkeypatch.setenv("GRAINLOOP_WEBHOOK_SECRET", "hook-secret-123")
    cfg, loop, project_id = demo_setup(tmp_path / "served", sample, server)
    loop = replace(loop, min_new_annotations=2)  # threshold: version (and train) only from two new annotations
    config = save_loop_config(loop, tmp_path / "served" / "loop.json")
    serve_cfg = ServeConfig(config, interval_minutes=60, webhook=ReceiverConfig(port=0, debounce_s=5.0))

    dep = deployment(serve_cfg)
    dep_id = dep.apply()
    with get_client(sync_client=True) as client:
        applied = client.read_deployment(dep_id)
    assert applied.name == "loop" and applied.parameters == serve_cfg.parameters
    assert applied.schedules[0].schedule.interval.total_seconds() == 3600
    assert applied.global_concurrency_limit.limit == 1

    receiver = start_receiver(serve_cfg, loop)
    try:
        with Connection.open(server.settings) as conn:
            assert [h["url"] for h in webhooks(conn, project_id)] == [receiver.url]
            task_id = SimulatedAnnotator(cfg.truth, loop.schema).annotate(conn, project_id, 1)[0]
            annotation = conn.sdk.annotations.list(task_id)[0]
            for _ in range(2):  # the annotator saves twice more: three events in one burst
                conn.sdk.annotations.update(annotation.id, result=annotation.result)
        wait_for(lambda: flow_runs(dep_id, "webhook"), 60, interval=0.5)
        time.sleep(6)  # a late trigger would show up as a second run
    finally:
        receiver.stop()
    hooked = flow_runs(dep_id, "webhook")
    assert len(hooked) == 1 and receiver.debouncer.fired == [3]
    assert hooked[0].parameters == serve_cfg.parameters

    runner = Runner(limit=1)  # what `grainloop serve` runs, here once: it executes the runs that are due
    runner.add_deployment(dep)
    asyncio.run(runner.start(run_once=True))
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(hooked[0].id).state.is_completed()
    records = [json.loads(p.read_text()) for p in (loop.pull_dir / "records").glob("*.json")]
    assert [r["task_id"] for r in records if r.get("mask")] == [task_id]  # the served cycle pulled it
    assert (loop.state_dir / "pending-annotations").read_text() == "1"  # below the threshold: no version yet
    assert not (loop.workspace / "data.dvc").exists()

