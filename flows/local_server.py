"""A service process on 127.0.0.1 that grainloop starts detached, records, checks and stops (MLflow, Prefect).

The process runs in its own session with its log in ``STATE/<name>-server.log`` and is recorded (URL, PID and a
few details, nothing secret) in ``STATE/<name>-server.json``, so that ``down`` and ``status`` find it from any
later command. A PID is only signalled when its command line still names the service (a recycled PID is left
alone), and stopping takes the whole session, workers included.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import httpx
import psutil

from foundation.atomic import write_atomic
from labeling.server import port_is_free


class LocalServerError(RuntimeError):
    """The server could not be started."""


@dataclass(frozen=True)
class LocalServer:
    name: str  # file names and the word its command line must contain: "mlflow", "prefect"
    title: str  # for messages: "MLflow", "Prefect"
    command: tuple[str, ...]
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 5000
    health_path: str = "/health"
    env: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)  # recorded beside URL and PID (store URIs)
    startup_timeout_s: float = 90.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def record_file(self) -> Path:
        return self.state_dir / f"{self.name}-server.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}-server.log"


@dataclass(frozen=True)
class ServerRecord:
    url: str
    pid: int | None
    log: str
    details: Mapping[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        record = {"url": self.url, "pid": self.pid, "log": self.log, **self.details}
        write_atomic(path, json.dumps(record, indent=2).encode())

    @classmethod
    def load(cls, path: Path) -> "ServerRecord | None":
        try:
            data = json.loads(path.read_text())
            return cls(data.pop("url"), data.pop("pid"), data.pop("log"), data)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None


@dataclass(frozen=True)
class Status:
    title: str
    record: ServerRecord | None
    running: bool
    healthy: bool

    def describe(self, hint: str = "") -> str:
        if not self.record:
            return f"no {self.title} server recorded; {hint or 'start one with up'}"
        state = "running" if self.running and self.healthy else \
            "recorded but not answering" if self.running else "not running"
        extra = "".join(f", {k} {v}" for k, v in self.record.details.items())
        return f"{self.title} {state} at {self.record.url} (pid {self.record.pid}{extra})"


def is_healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def is_ours(pid: int, name: str) -> bool:
    """True if the PID is alive and its command line is a `name ... server` (guards against recycled PIDs)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(name.encode() in part for part in cmdline) and b"server" in cmdline


def start(server: LocalServer) -> ServerRecord:
    """Start the server detached; return its record once its health URL answers."""
    if not port_is_free(server.host, server.port):
        raise LocalServerError(f"port {server.port} on {server.host} is busy; choose another with --port")
    server.state_dir.mkdir(parents=True, exist_ok=True)
    with server.log_file.open("ab") as log:
        proc = subprocess.Popen(list(server.command), env={**os.environ, **server.env}, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=server.state_dir)
    try:
        _wait_healthy(server, proc)
    except BaseException:
        stop(proc.pid, server.name)
        raise
    return ServerRecord(server.url, proc.pid, str(server.log_file), dict(server.details))


def _wait_healthy(server: LocalServer, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + server.startup_timeout_s
    while not is_healthy(server.url + server.health_path):
        if proc.poll() is not None:
            raise LocalServerError(f"{server.title} server exited with code {proc.returncode}; log: {server.log_file}")
        if time.monotonic() > deadline:
            raise LocalServerError(f"{server.title} server did not answer {server.url}{server.health_path} within "
                                   f"{server.startup_timeout_s:.0f} s; log: {server.log_file}")
        time.sleep(0.25)


def stop(pid: int, name: str, timeout_s: float = 20.0) -> bool:
    """Stop the server started with this PID and its workers (its session); False if it was not running."""
    if not is_ours(pid, name):
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


def status(server: LocalServer) -> Status:
    record = ServerRecord.load(server.record_file)
    running = bool(record and record.pid) and is_ours(int(record.pid), server.name)
    healthy = bool(record) and is_healthy(record.url + server.health_path)
    return Status(server.title, record, running, healthy)


def up(server: LocalServer) -> tuple[ServerRecord, bool]:
    """Start the server and record it; reuse the recorded one if it is running. (record, started?)"""
    current = status(server)
    if current.record and current.running and current.healthy:
        return current.record, False
    record = start(server)
    record.save(server.record_file)
    return record, True


def down(server: LocalServer) -> bool:
    """Stop the recorded server by its PID; False if it was not running. The record keeps its URL."""
    record = ServerRecord.load(server.record_file)
    if not record or not record.pid:
        return False
    stopped = stop(int(record.pid), server.name)
    ServerRecord(record.url, None, record.log, record.details).save(server.record_file)
    return stopped
