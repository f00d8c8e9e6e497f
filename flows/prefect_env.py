"""Prefect's settings for the CLI's flows, set in the environment before prefect is first imported.

No-server mode by default: without ``PREFECT_API_URL`` each process starts a temporary local API server whose
database lives in ``PREFECT_HOME`` (inside the state folder given). Quiet and offline: no analytics.
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULTS = (("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("DO_NOT_TRACK", "1"), ("PREFECT_LOGGING_LEVEL", "WARNING"),
            ("MLFLOW_DISABLE_TELEMETRY", "true"), ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"),
            # a loaded 2-core machine starts the temporary server in more than Prefect's default 20 s
            ("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))


def prefect_env(state: Path) -> None:
    """Point PREFECT_HOME into ``state`` (created now: Prefect cannot start without it) unless already set."""
    home = Path(os.environ.setdefault("PREFECT_HOME", str(Path(state).resolve() / "prefect")))
    home.mkdir(parents=True, exist_ok=True)
    for key, value in DEFAULTS:
        os.environ.setdefault(key, value)
