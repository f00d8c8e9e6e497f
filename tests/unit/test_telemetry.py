"""Prefect and MLflow phone home by default; grainloop turns that off for every entry point that imports flows/,
unless the environment says otherwise. Checked in a fresh process with a clean environment (the test session's
own defaults in tests/conftest.py would hide a regression)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # fresh interpreters importing flows, one starting Prefect's temporary server (~2 min)

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = """
import json, os, flows.cycle  # a flow module, imported the way any entry point does
from prefect.settings import get_current_settings
from prefect._internal.analytics import is_telemetry_enabled
from mlflow.telemetry.utils import is_telemetry_disabled
s = get_current_settings()
print(json.dumps({"server": s.server.analytics_enabled, "cloud": s.cloud.enable_orchestration_telemetry,
                  "sdk": is_telemetry_enabled(), "mlflow_off": is_telemetry_disabled(),
                  "dvc_off": os.environ.get("DVC_NO_ANALYTICS"), "hf_off": os.environ.get("HF_HUB_DISABLE_TELEMETRY")}))
"""

FLOW = """
import flows.sync
from prefect import flow

@flow
def one() -> int:
    return 1

print("result", one())
"""


def _run(code: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(home / "p"),
             "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean, cwd=home,
                          timeout=240)


def test_importing_flows_turns_prefect_and_mlflow_telemetry_off(tmp_path):
    done = _run(SETTINGS, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"server": False, "cloud": False, "sdk": False,
                                                        "mlflow_off": True, "dvc_off": "1", "hf_off": "1"}


def test_the_environment_can_still_turn_it_on(tmp_path):
    done = _run(SETTINGS, tmp_path, PREFECT_SERVER_ANALYTICS_ENABLED="true")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1])["server"] is True


def test_an_offline_flow_run_logs_no_telemetry_error(tmp_path):
    """The temporary server used to log 'Failed to send telemetry' at every flow run on a machine offline."""
    done = _run(FLOW, tmp_path)
    assert done.returncode == 0 and "result 1" in done.stdout, done.stderr[-2000:]
    assert "telemetry" not in (done.stdout + done.stderr).lower()
