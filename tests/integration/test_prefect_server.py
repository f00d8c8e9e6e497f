"""`grainloop prefect up | status | down` for real, and the loop's interval schedule turning into runs on it."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.local_server import down, is_ours, status, up
from flows.prefect_server import PrefectServerConfig
from flows.serve import ServeConfig, deployment
from grainloop.cli import app
from labeling.server import free_port
from tests.helpers import flow_runs, wait_for

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    config = PrefectServerConfig(project=tmp_path_factory.mktemp("prefect-project"), port=free_port(),
                                 scheduler_loop_s=2)
    record, _ = up(config.server())
    yield config, record
    down(config.server())


def test_the_schedule_makes_runs_on_the_server(prefect_server, tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    config, record = prefect_server
    assert is_ours(record.pid, "prefect") and record.details["api_url"] == config.api_url
    loop_file = tmp_path / "loop.json"
    loop_file.write_text("{}")  # never run here: the runs are only scheduled
    with temporary_settings({PREFECT_API_URL: config.api_url}):
        dep_id = deployment(ServeConfig(loop_file, interval_minutes=1)).apply()
        runs = wait_for(lambda: flow_runs(dep_id), 60, interval=1)
    assert runs and all(r.state.is_scheduled() for r in runs) and "auto-scheduled" in runs[0].tags
    starts = sorted(r.expected_start_time for r in runs)
    assert all(abs((b - a).total_seconds() - 60) < 1 for a, b in zip(starts, starts[1:]))


def test_cli_status_and_down(prefect_server):
    config, record = prefect_server
    project = str(config.project)
    result = runner.invoke(app, ["prefect", "status", "--project", project])
    assert result.exit_code == 0 and "Prefect running" in result.output and record.url in result.output
    assert runner.invoke(app, ["prefect", "down", "--project", project]).output.strip() == "Prefect server stopped"
    assert not status(config.server()).running
    assert runner.invoke(app, ["prefect", "status", "--project", project]).exit_code == 1


def test_serving_a_schedule_without_a_server_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = runner.invoke(app, ["serve", "--config", str(tmp_path / "loop.json"), "--interval", "5"])
    assert result.exit_code == 1 and "grainloop prefect up" in result.output
