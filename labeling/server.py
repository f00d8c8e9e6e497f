"""A local Label Studio server: install it into its own virtual environment, start, stop, check.

Label Studio pins Django, pytz and its SDK, so it never shares the project's environment. The server runs on
127.0.0.1 with SQLite in a data folder, an admin user and a legacy API token created without prompts, offline
settings (no version check, no Sentry, no analytics) and local-files serving from a document root.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from foundation.atomic import write_atomic
from labeling.settings import LabelStudioSettings

VERSION = "1.23.2"
CREDENTIALS = "grainloop-credentials.json"
LOCK = Path(__file__).resolve().parents[1] / "requirements-labelstudio.lock"  # absent in a wheel install


class ServerError(RuntimeError):
    """The Label Studio server could not be installed, started or stopped."""


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    document_root: Path
    port: int = 8080
    host: str = "127.0.0.1"
    venv: Path | None = None
    version: str = VERSION
    username: str = "admin@grainloop.local"
    startup_timeout_s: float = 180.0
    allow_local_webhooks: bool = True
    task_lock_ttl_s: int = 3600  # a task an annotator opened and left is served to others again after this
    # (Label Studio's default is a day: one abandoned task blocks a campaign's task for everyone; measured,
    # docs/campaigns-labelstudio.md)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def venv_path(self) -> Path:
        """Keyed by version and lock hash, so a changed lock builds a new environment."""
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return self.venv or cache / "grainloop" / f"labelstudio-{self.version}-{_lock_hash()}"


def _lock_hash() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12] if LOCK.exists() else "unlocked"


def _requirements(version: str) -> list[str]:
    """The pinned set from the repository's lock when present (and for this version), else the bare release."""
    if LOCK.exists() and f"label-studio=={version}" in LOCK.read_text().split():
        return ["-r", str(LOCK)]
    return [f"label-studio=={version}"]


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    token: str = field(repr=False)


def install(config: ServerConfig) -> Path:
    """Create the server's virtual environment once (a lock guards concurrent callers); return it."""
    venv = config.venv_path()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            _build_venv(venv, config.version)
    return venv


def _build_venv(venv: Path, version: str) -> None:
    print(f"grainloop: installing label-studio=={version} into {venv} (first run only, a minute or two)",
          file=sys.stderr)
    subprocess.run(["rm", "-rf", str(venv)], check=True)
    log = Path(f"{venv}.install.log")
    with log.open("w") as out:
        steps = [[_python311(), "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", *_requirements(version)]]
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                raise ServerError(f"installing Label Studio failed; full log: {log}")
    (venv / ".complete").touch()


def _python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    raise ServerError("Label Studio's environment needs Python 3.11")


def port_is_free(host: str, port: int) -> bool:
    """True unless something listens on the port (sockets left in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_or_free(port: int, host: str = "127.0.0.1") -> int:
    """The port when nothing listens on it, else a free one."""
    return port if port_is_free(host, port) else free_port(host)


def credentials(data_dir: Path, username: str) -> Credentials:
    """The admin's credentials, created at the first start and kept (owner-only) in the data folder."""
    path = data_dir / CREDENTIALS
    if path.exists():
        return Credentials(**json.loads(path.read_text()))
    creds = Credentials(username, secrets.token_urlsafe(18), secrets.token_hex(20))
    write_atomic(path, json.dumps({"username": creds.username, "password": creds.password, "token": creds.token}),
                 mode=0o600)  # a killed write leaves no half file that would stop every later start
    return creds


def server_env(config: ServerConfig, creds: Credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "VIRTUAL_ENV", "PYTHON"))}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(config.data_dir), "LABEL_STUDIO_USERNAME": creds.username,
        "LABEL_STUDIO_PASSWORD": creds.password, "LABEL_STUDIO_USER_TOKEN": creds.token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(config.document_root),
        "LABEL_STUDIO_SSRF_PROTECTION_ENABLED": "false" if config.allow_local_webhooks else "true",
        "LABEL_STUDIO_ML_BLOCK_LOCAL_IP": "false" if config.allow_local_webhooks else "true",  # ML backends too
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "LABEL_STUDIO_TASK_LOCK_TTL": str(config.task_lock_ttl_s),
    })
    return env


def start(config: ServerConfig) -> LabelStudioSettings:
    """Start the server (installing it first if needed); return its URL, token and PID once /health is UP."""
    if not port_is_free(config.host, config.port):
        raise ServerError(f"port {config.port} on {config.host} is busy; choose another with --port")
    venv = install(config)
    creds = credentials(config.data_dir, config.username)
    proc = _spawn(venv, config, creds)
    try:
        _wait_healthy(config, proc)
    except BaseException:
        stop(proc.pid)
        raise
    return LabelStudioSettings(config.url, creds.token, proc.pid, config.data_dir, config.document_root)


def make_private(data_dir: Path) -> None:
    """The data folder holds the SQLite database (users, tokens) and the log: owner-only (0700), and the files
    already in it at the top level (a database made before this rule) 0600."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for path in data_dir.iterdir():
        if path.is_file() and not path.is_symlink():
            os.chmod(path, 0o600)


def _spawn(venv: Path, config: ServerConfig, creds: Credentials) -> subprocess.Popen:
    cmd = [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", config.host,
           "-p", str(config.port), "--data-dir", str(config.data_dir)]
    make_private(config.data_dir)
    log = os.fdopen(os.open(config.data_dir / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    with log:  # the child keeps its own descriptor; umask 077: the database and every file it makes are owner-only
        return subprocess.Popen(cmd, env=server_env(config, creds), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=config.data_dir, umask=0o077)


def _wait_healthy(config: ServerConfig, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + config.startup_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"Label Studio exited with code {proc.returncode}; log: {config.data_dir / 'server.log'}")
        if is_healthy(config.url):
            return
        time.sleep(0.5)
    raise ServerError(f"Label Studio did not answer {config.url}/health within {config.startup_timeout_s:.0f} s; "
                      f"log: {config.data_dir / 'server.log'}")


def is_healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2.0).json().get("status") == "UP"
    except (httpx.HTTPError, ValueError):
        return False


def is_ours(pid: int) -> bool:
    """True if the PID is alive and is a Label Studio server (guards against a recycled PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"label-studio" in cmdline or b"label_studio" in cmdline


def stop(pid: int, timeout_s: float = 20.0) -> bool:
    """Stop the server started with this PID (and its process group); False if it was not running."""
    if not is_ours(pid):
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and is_ours(pid):
        _reap(pid)
        time.sleep(0.2)
    if is_ours(pid):
        _signal_group(pid, signal.SIGKILL)
        _reap(pid)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
