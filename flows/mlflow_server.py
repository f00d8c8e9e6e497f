"""A local MLflow tracking server over the project's embedded store: start, stop, check (flows.local_server).

`grainloop mlflow up` serves the very SQLite file and artifact folder that ``flows.tracking`` uses when
``MLFLOW_TRACKING_URI`` is unset (``.grainloop/mlflow.db`` and ``.grainloop/mlartifacts``), so runs logged with
or without the server land in one store. It listens on 127.0.0.1, detached, logging to
``.grainloop/mlflow-server.log``, recorded in ``.grainloop/mlflow-server.json``. Artifacts of experiments the
server creates are proxied (``mlflow-artifacts:/``), so clients need no access to the folder itself.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from flows import local_server
from flows.local_server import LocalServer, LocalServerError, ServerRecord
from flows.tracking import STATE_DIR, TrackingConfig

__all__ = ["MlflowServerConfig", "MlflowServerError", "down", "is_ours", "start", "up"]
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
MlflowServerError = LocalServerError


@dataclass(frozen=True)
class MlflowServerConfig:
    project: Path = Path(".")  # the state folder is PROJECT/.grainloop, as in flows.tracking
    port: int = 5000
    host: str = "127.0.0.1"
    workers: int = 1  # one user on a workstation; each uvicorn worker costs about 250 MB
    startup_timeout_s: float = 90.0

    @property
    def url(self) -> str:
        return self.server().url

    @property
    def state_dir(self) -> Path:
        return self.project.resolve() / STATE_DIR

    @property
    def record_file(self) -> Path:
        return self.server().record_file

    def store(self) -> TrackingConfig:
        """The embedded store of flows.tracking, whatever MLFLOW_TRACKING_URI says."""
        return TrackingConfig.for_project(self.project, env={})

    def server(self) -> LocalServer:
        store = self.store()
        command = (sys.executable, "-m", "mlflow", "server", "--host", self.host, "--port", str(self.port),
                   "--workers", str(self.workers), "--backend-store-uri", store.tracking_uri,
                   "--artifacts-destination", store.artifact_location, "--default-artifact-root", "mlflow-artifacts:/")
        return LocalServer("mlflow", "MLflow", command, self.state_dir, self.host, self.port, "/health", SERVER_ENV,
                           {"backend_store_uri": store.tracking_uri, "artifacts": store.artifact_location},
                           self.startup_timeout_s)


def is_ours(pid: int) -> bool:
    return local_server.is_ours(pid, "mlflow")


def start(config: MlflowServerConfig) -> ServerRecord:
    return local_server.start(config.server())


def up(config: MlflowServerConfig) -> tuple[ServerRecord, bool]:
    return local_server.up(config.server())


def down(config: MlflowServerConfig) -> bool:
    return local_server.down(config.server())
