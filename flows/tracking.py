"""Where MLflow keeps runs and models, and how a process connects to it.

The embedded default needs no server: a SQLite tracking and registry store and a local artifact folder inside the
project (``.grainloop/``). ``MLFLOW_TRACKING_URI`` points everything at another store (e.g. ``grainloop mlflow
up``'s server on 127.0.0.1). Nothing here runs at import: mlflow itself is imported only by ``lib()``, after
telemetry has been switched off, because mlflow starts its telemetry client when it is first imported.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

EXPERIMENT = "grainloop"
MODEL_NAME = "grainloop-segmentation"
STATE_DIR = ".grainloop"


@dataclass(frozen=True)
class TrackingConfig:
    tracking_uri: str
    artifact_location: str | None  # where a new experiment stores artifacts; None: the server's default (e.g. S3)
    experiment: str = EXPERIMENT
    model_name: str = MODEL_NAME

    @classmethod
    def for_project(cls, project: Path, env: Mapping[str, str] | None = None, experiment: str = EXPERIMENT,
                    model_name: str = MODEL_NAME) -> "TrackingConfig":
        """The project's embedded store, unless ``MLFLOW_TRACKING_URI`` names another one."""
        env = os.environ if env is None else env
        state = Path(project).resolve() / STATE_DIR
        if env.get("MLFLOW_TRACKING_URI"):  # a server (or database) of its own: its artifact store applies
            return cls(env["MLFLOW_TRACKING_URI"], None, experiment, model_name)
        return cls(f"sqlite:///{state / 'mlflow.db'}", (state / "mlartifacts").as_uri(), experiment, model_name)

    @property
    def local_store(self) -> Path | None:
        """The SQLite file of the embedded store (None for a server or another database)."""
        prefix = "sqlite:///"
        return Path(self.tracking_uri.removeprefix(prefix)) if self.tracking_uri.startswith(prefix) else None


def lib():
    """The mlflow module, imported with telemetry off (DO_NOT_TRACK / MLFLOW_DISABLE_TELEMETRY)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow.telemetry import set_telemetry_client

    set_telemetry_client()  # drops a client made by an earlier import, now that telemetry is off
    return mlflow


URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _set_uris(mlflow, uri: str) -> None:
    """mlflow's set_tracking_uri and set_registry_uri also export their environment variables; put those back,
    so a later TrackingConfig.for_project in this process (or a child process) is not sent to this store."""
    saved = {name: os.environ.get(name) for name in URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def configure(cfg: TrackingConfig) -> str:
    """Point mlflow at the store, create the experiment (with its artifact location) if missing, make it
    the active one, and return its id."""
    mlflow = lib()
    if cfg.local_store:
        cfg.local_store.parent.mkdir(parents=True, exist_ok=True)
    _set_uris(mlflow, cfg.tracking_uri)
    found = mlflow.get_experiment_by_name(cfg.experiment)
    experiment_id = found.experiment_id if found else mlflow.create_experiment(cfg.experiment, cfg.artifact_location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def client(cfg: TrackingConfig):
    """An MlflowClient bound to this store (tracking and registry), independent of the global URI."""
    configure(cfg)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.tracking_uri)
