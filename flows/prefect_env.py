"""Prefect's settings for the CLI's flows, set in the environment before prefect is first imported.

No-server mode by default: without ``PREFECT_API_URL`` each process starts a temporary local
API server whose database lives in ``PREFECT_HOME`` (inside the state folder given). Quiet and offline: telemetry
of Prefect (the server's heartbeat to sens-o-matic.prefect.io, the SDK's Amplitude events, Cloud's orchestration
traces) and of MLflow is off unless the environment turns it on; ``telemetry_off`` runs when the ``flows``
package is imported, so every entry point (CLI, benchmark, a script importing a flow) gets it.
"""
from __future__ import annotations

import os
from pathlib import Path

# DO_NOT_TRACK: Prefect takes 1/true/yes, MLflow only "true". DVC's usage analytics (its subprocesses inherit the
# environment; `dvc init` runs before the workspace's core.analytics=false) and the Hugging Face hub's, too.
TELEMETRY_OFF = (("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("DO_NOT_TRACK", "true"),
                 ("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false"), ("MLFLOW_DISABLE_TELEMETRY", "true"),
                 ("DVC_NO_ANALYTICS", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"))
DEFAULTS = (*TELEMETRY_OFF, ("PREFECT_LOGGING_LEVEL", "WARNING"), ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"),
            ("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore"),  # a step's tasks called outside the cycle flow
            # a loaded 2-core machine starts the temporary server in more than Prefect's default 20 s
            ("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))


def telemetry_off() -> None:
    """Prefect's and MLflow's telemetry off, unless a variable of the environment already says otherwise."""
    for key, value in TELEMETRY_OFF:
        os.environ.setdefault(key, value)


def prefect_env(state: Path, api_url: str | None = None) -> None:
    """Point PREFECT_HOME into ``state`` (created now: Prefect cannot start without it) unless already set, and
    PREFECT_API_URL at ``api_url`` (the loop's Prefect server) unless the environment names one."""
    if api_url:
        os.environ.setdefault("PREFECT_API_URL", api_url)
    home = Path(os.environ.setdefault("PREFECT_HOME", str(Path(state).resolve() / "prefect")))
    home.mkdir(parents=True, exist_ok=True)
    for key, value in DEFAULTS:
        os.environ.setdefault(key, value)
