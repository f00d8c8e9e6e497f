"""A local Prefect API server (`prefect server start`) for what no-server mode cannot do: run schedules, take
deployment runs from other processes, and show the UI. Started, recorded and stopped by flows.local_server.

Its database lives in ``.grainloop/prefect-server/`` (PREFECT_HOME of the server process only); point clients at it
with ``PREFECT_API_URL=http://127.0.0.1:4200/api``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from flows.local_server import LocalServer
from flows.tracking import STATE_DIR


@dataclass(frozen=True)
class PrefectServerConfig:
    project: Path = Path(".")
    port: int = 4200
    host: str = "127.0.0.1"
    scheduler_loop_s: float = 60.0  # how often the scheduler turns schedules into runs (Prefect's default)
    startup_timeout_s: float = 120.0

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def server(self) -> LocalServer:
        state = self.project.resolve() / STATE_DIR
        env = {"PREFECT_HOME": str(state / "prefect-server"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "DO_NOT_TRACK": "1", "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": str(self.scheduler_loop_s),
               "PREFECT_UI_API_URL": self.api_url}
        command = (sys.executable, "-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port))
        return LocalServer("prefect", "Prefect", command, state, self.host, self.port, "/api/health", env,
                           {"api_url": self.api_url}, self.startup_timeout_s)

