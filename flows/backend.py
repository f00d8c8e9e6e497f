"""`grainloop backend`: the loop's champion as a Label Studio ML backend, started on 127.0.0.1 and connected to the
loop's project through Label Studio's API (no clicks).

The server (uvicorn, flows/backend_app.py) runs in a thread of this process; the predictor (flows/backend_model.py)
follows the champion alias. The connection's title is the champion's prediction version and so is the project's
model_version: Label Studio then asks the backend when a task is opened (the labeling stream asks while the two
agree; the Data Manager asks for a task without predictions) and shows its predictions. When a promotion moves
the alias, the backend renames its connection to the new version, and Label Studio moves the project's
model_version with it.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from flows.backend_app import make_app
from flows.backend_model import ChampionPredictor, PredictorConfig
from flows.loop_config import LoopConfig
from labeling.api import Connection
from labeling.ml_backend import BackendLink, connect_backend
from labeling.projects import ProjectSpec, ensure_project
from labeling.server import free_port
from labeling.settings import load_settings

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class BackendConfig:
    port: int = 0  # 0: a free port
    host: str = HOST
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    connect: bool = True  # connect it to the loop's Label Studio project once it is up
    startup_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port must be 0 (a free one) or 1..65535, got {self.port}")


def project_id(loop: LoopConfig) -> int:
    with Connection.open(load_settings(loop.labeling.settings_file)) as conn:
        return ensure_project(conn.sdk, ProjectSpec(loop.labeling.project_title, loop.schema)).id


def title(loop: LoopConfig, model_version: str) -> str:
    """The connection's title: the champion's prediction version, or the model's name before the first one."""
    return model_version or f"{loop.tracking.model_name} (no champion yet)"


def connect(loop: LoopConfig, url: str, project: int, model_version: str) -> int:
    """Connect (or update) the backend at url for the project, titled by the champion's version."""
    with Connection.open(load_settings(loop.labeling.settings_file)) as conn:
        return connect_backend(conn, project, BackendLink(url, title(loop, model_version)))


class Backend:
    """The backend server running in a thread; ``url`` once started, ``stop()`` to end it."""

    def __init__(self, loop: LoopConfig, cfg: BackendConfig = BackendConfig()):
        import uvicorn

        self.loop, self.cfg = loop, cfg
        self.project = project_id(loop) if cfg.connect else cfg.predictor.project_id
        predictor_cfg = PredictorConfig(cfg.predictor.refresh_s, cfg.predictor.answered_ttl_s, self.project)
        self.predictor = ChampionPredictor(loop, predictor_cfg, self._renamed if cfg.connect else None)
        self.port = cfg.port or free_port(cfg.host)
        self.url = f"http://{cfg.host}:{self.port}"
        self.connection: Optional[int] = None
        config = uvicorn.Config(make_app(self.predictor), host=cfg.host, port=self.port, log_level="warning",
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="grainloop-backend")

    def start(self) -> "Backend":
        """Load the champion, serve, wait until up, then connect to the project (with cfg.connect)."""
        self.predictor.warm()
        self._thread.start()
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the ML backend did not start on {self.url} (port busy?)")
            time.sleep(0.05)
        if self.cfg.connect:
            self.connection = connect(self.loop, self.url, self.project, self.predictor.model_version())
        return self

    def _renamed(self, model_version: str) -> None:
        """A promotion moved the alias: rename the connection (in a thread: Label Studio calls back /setup)."""
        def rename() -> None:
            try:
                connect(self.loop, self.url, self.project, model_version)
            except Exception as exc:  # Label Studio unreachable: predictions still carry the new version
                log.warning("ML backend connection not renamed to %s: %s", model_version, exc)

        threading.Thread(target=rename, daemon=True, name="grainloop-backend-rename").start()

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def wait(self) -> None:
        """Block until interrupted (Ctrl-C), then stop."""
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def start_backend(loop: LoopConfig, cfg: BackendConfig = BackendConfig()) -> Backend:
    return Backend(loop, cfg).start()
