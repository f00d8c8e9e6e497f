"""`grainloop mlflow up | status | down` for real: a server on a free port over a temporary project's embedded
store; a run logged through HTTP lands in the SQLite file and artifact folder that flows.tracking uses."""
from __future__ import annotations

import json
import sqlite3

import psutil
import pytest
from typer.testing import CliRunner

from flows.mlflow_server import MlflowServerConfig, MlflowServerError, down, is_ours, start
from flows.tracking import TrackingConfig, lib
from grainloop.cli import app
from labeling.server import free_port

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The server `grainloop mlflow up` started for a temporary project; stopped at the end whatever happens."""
    config = MlflowServerConfig(project=tmp_path_factory.mktemp("project"), port=free_port())
    result = runner.invoke(app, ["mlflow", "up", "--port", str(config.port), "--project", str(config.project)])
    yield config, result
    down(config)


def _cli(*args: str, config: MlflowServerConfig):
    return runner.invoke(app, ["mlflow", *args, "--project", str(config.project)])


def test_up_records_the_server_and_prints_the_uri_hint(server):
    config, result = server
    assert result.exit_code == 0, result.output
    assert f"export MLFLOW_TRACKING_URI={config.url}" in result.output.splitlines()
    record = json.loads(config.record_file.read_text())
    assert record["url"] == config.url and is_ours(record["pid"])
    assert record["backend_store_uri"] == TrackingConfig.for_project(config.project, env={}).tracking_uri


def test_a_run_logged_over_http_lands_in_the_embedded_store(server):
    config, _ = server
    client = lib().MlflowClient(tracking_uri=config.url)
    experiment_id = client.create_experiment("over-http")
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "encoder", "resnet18")
    client.log_metric(run_id, "val_iou", 0.75)
    client.log_text(run_id, "hello", "notes/hello.txt")
    client.set_terminated(run_id)
    store = TrackingConfig.for_project(config.project, env={}).local_store
    with sqlite3.connect(store) as db:
        params = db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)).fetchall()
        status = db.execute("SELECT status FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
    assert params == [("encoder", "resnet18")] and status == ("FINISHED",)
    artifact = config.state_dir / "mlartifacts" / experiment_id / run_id / "artifacts" / "notes" / "hello.txt"
    assert artifact.read_text() == "hello"


def test_status_and_a_second_up(server):
    config, _ = server
    result = _cli("status", config=config)
    assert result.exit_code == 0 and "running" in result.output and config.url in result.output
    again = runner.invoke(app, ["mlflow", "up", "--port", str(free_port()), "--project", str(config.project)])
    assert again.exit_code == 0 and "already running" in again.output and config.url in again.output


def test_busy_port_is_an_error_naming_it(server, tmp_path):
    config, _ = server
    with pytest.raises(MlflowServerError, match=str(config.port)):
        start(MlflowServerConfig(project=tmp_path, port=config.port))
    result = runner.invoke(app, ["mlflow", "up", "--port", str(config.port), "--project", str(tmp_path)])
    assert result.exit_code == 1 and str(config.port) in result.output
    assert not (tmp_path / ".grainloop" / "mlflow-server.json").exists()


def test_down_stops_the_process(server):  # last: the server is gone afterwards
    config, _ = server
    pid = json.loads(config.record_file.read_text())["pid"]
    workers = psutil.Process(pid).children(recursive=True)
    assert _cli("down", config=config).output.strip() == "MLflow server stopped"
    assert not is_ours(pid) and not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    result = _cli("status", config=config)
    assert result.exit_code == 1 and "not running" in result.output
    assert _cli("down", config=config).output.strip() == "MLflow server was not running"
    for command in (["mlflow"], ["mlflow", "up"], ["mlflow", "down"], ["mlflow", "status"]):
        assert runner.invoke(app, [*command, "--help"]).exit_code == 0
