"""A local MLflow tracking server over the project's embedded store: start, stop, check.

`grainloop mlflow up` serves the very SQLite file and artifact folder that ``flows.tracking`` uses when
``MLFLOW_TRACKING_URI`` is unset (``.grainloop/mlflow.db`` and ``.grainloop/mlartifacts``), so runs logged with
or without the server land in one store. The server listens on 127.0.0.1, runs detached in its own session with
its log in ``.grainloop/mlflow-server.log``, and is recorded (URL and PID, nothing secret) in
``.grainloop/mlflow-server.json`` so that ``down`` and ``status`` find it. Artifacts of experiments the server
creates are proxied (``mlflow-artifacts:/``), so clients need no access to the folder itself.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

from flows.tracking import STATE_DIR, TrackingConfig
from labeling.server import port_is_free

RECORD = "mlflow-server.json"
LOG = "mlflow-server.log"
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


class MlflowServerError(RuntimeError):
    """The MLflow server could not be started."""


@dataclass(frozen=True)
class MlflowServerConfig:
    project: Path = Path(".")  # the state folder is PROJECT/.grainloop, as in flows.tracking
    port: int = 5000
    host: str = "127.0.0.1"
    workers: int = 1  # one user on a workstation; each uvicorn worker costs about 250 MB
    startup_timeout_s: float = 90.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_dir(self) -> Path:
        return self.project.resolve() / STATE_DIR

    @property
    def record_file(self) -> Path:
        return self.state_dir / RECORD

    @property
    def log_file(self) -> Path:
        return self.state_dir / LOG

    def store(self) -> TrackingConfig:
        """The embedded store of flows.tracking, whatever MLFLOW_TRACKING_URI says."""
        return TrackingConfig.for_project(self.project, env={})

    def command(self) -> list[str]:
        store = self.store()
        return [sys.executable, "-m", "mlflow", "server", "--host", self.host, "--port", str(self.port),
                "--workers", str(self.workers), "--backend-store-uri", store.tracking_uri,
                "--artifacts-destination", store.artifact_location, "--default-artifact-root", "mlflow-artifacts:/"]


@dataclass(frozen=True)
class ServerRecord:
    url: str
    pid: int | None
    backend_store_uri: str
    artifacts: str
    log: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "ServerRecord | None":
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


@dataclass(frozen=True)
class Status:
    record: ServerRecord | None
    running: bool
    healthy: bool

    def describe(self) -> str:
        if not self.record:
            return "no MLflow server recorded; run `grainloop mlflow up`"
        state = "running" if self.running and self.healthy else \
            "recorded but not answering" if self.running else "not running"
        return f"MLflow {state} at {self.record.url} (pid {self.record.pid}, store {self.record.backend_store_uri})"


def is_healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def is_ours(pid: int) -> bool:
    """True if the PID is alive and is an MLflow server (guards against a recycled PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"mlflow" in cmdline and b"server" in cmdline


def start(config: MlflowServerConfig) -> ServerRecord:
    """Start the server detached; return its record once GET /health answers."""
    if not port_is_free(config.host, config.port):
        raise MlflowServerError(f"port {config.port} on {config.host} is busy; choose another with --port")
    config.state_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **SERVER_ENV}
    with config.log_file.open("ab") as log:
        proc = subprocess.Popen(config.command(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=config.state_dir)
    try:
        _wait_healthy(config, proc)
    except BaseException:
        stop(proc.pid)
        raise
    store = config.store()
    return ServerRecord(config.url, proc.pid, store.tracking_uri, store.artifact_location, str(config.log_file))


def _wait_healthy(config: MlflowServerConfig, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + config.startup_timeout_s
    while not is_healthy(config.url):
        if proc.poll() is not None:
            raise MlflowServerError(f"mlflow server exited with code {proc.returncode}; log: {config.log_file}")
        if time.monotonic() > deadline:
            raise MlflowServerError(f"mlflow server did not answer {config.url}/health within "
                                    f"{config.startup_timeout_s:.0f} s; log: {config.log_file}")
        time.sleep(0.25)


def stop(pid: int, timeout_s: float = 20.0) -> bool:
    """Stop the server started with this PID and its workers (its session); False if it was not running."""
    if not is_ours(pid):
        return False
    with contextlib.suppress(psutil.NoSuchProcess):
        leader = psutil.Process(pid)
        group = [leader, *leader.children(recursive=True)]
        _signal_group(pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(group, timeout=timeout_s)
        if alive:
            _signal_group(pid, signal.SIGKILL)
            psutil.wait_procs(alive, timeout=5.0)
    return True


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def status(config: MlflowServerConfig) -> Status:
    record = ServerRecord.load(config.record_file)
    running = bool(record and record.pid) and is_ours(int(record.pid))
    return Status(record, running, bool(record) and is_healthy(record.url))


def up(config: MlflowServerConfig) -> tuple[ServerRecord, bool]:
    """Start the server and record it; reuse the recorded one if it is running. (record, started?)"""
    current = status(config)
    if current.record and current.running and current.healthy:
        return current.record, False
    record = start(config)
    record.save(config.record_file)
    return record, True


def down(config: MlflowServerConfig) -> bool:
    """Stop the recorded server by its PID; False if it was not running. The record keeps its URL."""
    record = ServerRecord.load(config.record_file)
    if not record or not record.pid:
        return False
    stopped = stop(int(record.pid))
    ServerRecord(**{**asdict(record), "pid": None}).save(config.record_file)
    return stopped
