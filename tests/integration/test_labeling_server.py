"""Server lifecycle, settings, CLI, projects and webhooks against the real Label Studio."""
from __future__ import annotations

import http.server
import json
import os
import stat
import threading
import time

import pytest
from typer.testing import CliRunner

from grainloop.cli import app
from foundation.schema import LabelSchema
from labeling.config import schema_from_config
from labeling.lifecycle import status
from labeling.projects import ProjectError, ProjectSpec, ensure_project
from labeling.server import ServerConfig, ServerError, is_healthy, start
from labeling.settings import TOKEN_ENV, URL_ENV, load_settings
from labeling.webhooks import register_webhook, webhooks
from tests.integration.helpers import annotate, imported_project, new_project

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_server_is_up_and_settings_hide_the_token(server):
    assert is_healthy(server.settings.url)
    assert server.settings.token not in repr(server.settings)
    assert stat.S_IMODE(os.stat(server.settings_file).st_mode) == 0o600
    loaded = load_settings(server.settings_file, env={})
    assert loaded.url == server.settings.url and loaded.token == server.settings.token
    env = {URL_ENV: "http://example.invalid:1", TOKEN_ENV: "from-env"}
    overridden = load_settings(server.settings_file, env=env)
    assert (overridden.url, overridden.token) == ("http://example.invalid:1", "from-env")


def test_busy_port_is_an_error_naming_it(server, tmp_path):
    assert is_healthy(server.settings.url)  # else this test would start a second server on the port
    busy = ServerConfig(data_dir=tmp_path / "d", document_root=tmp_path, port=server.config.port)
    with pytest.raises(ServerError, match=str(server.config.port)):
        start(busy)
    result = runner.invoke(app, ["labelstudio", "up", "--port", str(server.config.port), "--data-dir",
                                 str(tmp_path / "d"), "--settings", str(tmp_path / "s.json")])
    assert result.exit_code == 1 and str(server.config.port) in result.output
    assert not (tmp_path / "s.json").exists()


def test_cli_status_and_help(server):
    for command in (["labelstudio"], ["labelstudio", "up"], ["labelstudio", "down"], ["labelstudio", "status"]):
        assert runner.invoke(app, [*command, "--help"]).exit_code == 0
    result = runner.invoke(app, ["labelstudio", "status", "--settings", str(server.settings_file)])
    assert result.exit_code == 0, result.output
    assert "running" in result.output and server.settings.url in result.output
    assert server.settings.token not in result.output
    assert status(server.settings_file).running


def test_project_create_or_reuse(conn, server):
    phases = LabelSchema.load("schemas/phases.yaml")
    project = new_project(conn, phases)
    again = ensure_project(conn.sdk, ProjectSpec(project.title, phases))
    assert again.id == project.id
    titled = [p for p in conn.sdk.projects.list(page_size=100) if p.title == project.title]
    assert len(titled) == 1
    config = conn.sdk.projects.get(project.id).label_config
    assert [c.name for c in schema_from_config(config).classes] == ["pore", "quartz", "albite", "clay-mix"]
    binary = LabelSchema.load("schemas/grains.yaml")
    with pytest.raises(ProjectError, match="clay-mix"):
        ensure_project(conn.sdk, ProjectSpec(project.title, binary))


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_on_annotations(conn, docroot):
    project, tasks, _ = imported_project(conn, docroot, 1)
    receiver = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_port}/labels"
    first = register_webhook(conn, project.id, url)
    assert register_webhook(conn, project.id, url) == first and len(webhooks(conn, project.id)) == 1
    annotate(conn, tasks[0]["id"], [])
    deadline = time.monotonic() + 30
    while not _Hook.received and time.monotonic() < deadline:
        time.sleep(0.2)
    receiver.shutdown()
    assert _Hook.received and _Hook.received[0]["action"] == "ANNOTATION_CREATED"
    assert _Hook.received[0]["project"]["id"] == project.id
