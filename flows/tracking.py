"""The one door to MLflow: where runs and models live, the names grainloop gives them, and a connected client.

The embedded default needs no server: a SQLite tracking and registry store and a local artifact folder inside the
project (``.grainloop/``). ``MLFLOW_TRACKING_URI`` points everything at another store (e.g. ``grainloop mlflow
up``'s server on 127.0.0.1). Nothing here runs at import: mlflow itself is imported only by ``lib()``, after
telemetry has been switched off, because mlflow starts its telemetry client when it is first imported.

Every tag key, alias and metric name the flows and the CLI use is a constant here. ``client(cfg)`` is an
MlflowClient bound to the store by explicit URIs (made once per store); ``configure(cfg)`` points mlflow's fluent
API (start_run, log_metrics, log_model) at the store, once per process and store, and ``tracked_run`` opens a
fluent run there.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional

from ml.metrics import CLASS_IOU_PREFIX, MEAN_FG_IOU, SIZE_ERROR  # noqa: F401 (re-exported: names promotion checks)

EXPERIMENT = "grainloop"
MODEL_NAME = "grainloop-segmentation"
STATE_DIR = ".grainloop"

# ---- names ---------------------------------------------------------------------------------------------------
# aliases of the registered model
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"

# metrics, as ml computes and names them: the score promotion compares, the grain size distribution error it
# checks (SIZE_ERROR, imported above), and the prefixes runs record them under
SCORE = MEAN_FG_IOU
FINAL_PREFIX, VAL_PREFIX = "final/", "val/"  # CLASS_IOU_PREFIX (imported above): iou/ + a class name
SOURCE_PREFIX = "source/"  # an adopted model's metrics as its checkpoint recorded them (its own validation)

# tag keys on runs and model versions
TAG_KIND = "grainloop.kind"  # what a run is: one of the KIND_ values
TAG_DATASET = "grainloop.dataset"  # the dataset version (DVC tag) trained on
TAG_EVAL_DATASET = "grainloop.eval_dataset"  # the dataset version whose test split produced the metrics
TAG_DATA_DVC_MD5 = "grainloop.data_dvc_md5"
TAG_GIT_SHA = "grainloop.git_sha"
TAG_SCHEMA_HASH = "grainloop.schema_hash"
TAG_MODEL = "grainloop.model"
TAG_VERSION = "grainloop.version"
TAG_MODEL_VERSION = "grainloop.model_version"  # Label Studio's model_version of pre-annotations
TAG_STRATEGY = "grainloop.strategy"
TAG_SPLIT = "grainloop.split"
TAG_CHAMPION_BEFORE = "grainloop.champion_before"
TAG_OUTCOME = "grainloop.outcome"
TAG_REASONS = "grainloop.reasons"
TAG_PROMOTION, TAG_PROMOTION_RUN = "grainloop.promotion", "grainloop.promotion_run"  # on a judged version
TAG_ROLLBACK, TAG_ROLLBACK_RUN = "grainloop.rollback", "grainloop.rollback_run"
TAG_CHAMPION_HISTORY = "grainloop.champion_history"  # registered-model tag: champions in order, comma-separated
TAG_EVAL_PREFIX = "grainloop.eval."  # + dataset.split: the evaluation run of a version on that split
TAG_SOURCE = "grainloop.source"  # on a version the lab chose as champion: what it chose (a model file, a URI, a seed)
TAG_SOURCE_PREFIX = "grainloop.source."  # + a lineage tag's short name: an adopted model's own lineage (its own loop)
TAG_CAMPAIGN = "grainloop.campaign"  # on a campaign report's run: the campaign's name
TAG_WEIGHTS_SHA256 = "grainloop.weights_sha256"  # on an adopted version: ml.checkpoint.weights_sha256 of its weights
TAG_RELEASE, TAG_RELEASE_SHA256 = "grainloop.release", "grainloop.release_sha256"  # a leaderboard run's release
TAG_LEADERBOARD_SHA256 = "grainloop.leaderboard_sha256"  # on a leaderboard run: the sha256 of the CSV it holds
LINEAGE_TAGS = (TAG_DATASET, TAG_DATA_DVC_MD5, TAG_GIT_SHA, TAG_SCHEMA_HASH)

KIND_TRAINING, KIND_EVALUATION, KIND_PREANNOTATION, KIND_DEMO = "training", "evaluation", "preannotation", "demo"
KIND_PROMOTION, KIND_ROLLBACK, KIND_ADOPTION = "promotion", "rollback", "adoption"
KIND_STATUS = "status"  # the run holding a served cycle's status report (PNG, HTML)
KIND_CAMPAIGN = "campaign"  # the run holding a campaign's status report (PNG, HTML, JSON)
KIND_LEADERBOARD = "leaderboard"  # the run holding a release's leaderboard (CSV, markdown, plot)
CHOSEN = "chosen"  # TAG_PROMOTION of a version the lab made champion itself: the rule did not judge it
OUTCOME_TAGS = {KIND_PROMOTION: (TAG_PROMOTION, TAG_PROMOTION_RUN), KIND_ROLLBACK: (TAG_ROLLBACK, TAG_ROLLBACK_RUN)}


def prediction_version(model_name: str, version: int | str) -> str:
    """The ``model_version`` a registered version's pre-annotations carry in Label Studio."""
    return f"{model_name}@v{version}"


def eval_run_tag(dataset: str, split: str) -> str:
    """The version tag naming its evaluation run on a dataset version's split."""
    return f"{TAG_EVAL_PREFIX}{dataset}.{split}"


# ---- the store -----------------------------------------------------------------------------------------------


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
_lock = threading.Lock()
_clients: dict[str, object] = {}  # tracking URI -> MlflowClient
_active: Optional[tuple[str, str, str]] = None  # (tracking URI, experiment name, its id) the fluent API points at


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


def _make_store_folder(cfg: TrackingConfig) -> None:
    if cfg.local_store:
        cfg.local_store.parent.mkdir(parents=True, exist_ok=True)


def configure(cfg: TrackingConfig) -> str:
    """Point mlflow's fluent API at the store, create the experiment (with its artifact location) if missing, make
    it the active one, and return its id. Done once per process and store: again only after another store (or
    anything else) moved mlflow's global URI."""
    global _active
    mlflow = lib()
    with _lock:
        if _active and _active[:2] == (cfg.tracking_uri, cfg.experiment) \
                and mlflow.get_tracking_uri() == cfg.tracking_uri:
            return _active[2]
        _make_store_folder(cfg)
        _set_uris(mlflow, cfg.tracking_uri)
        found = mlflow.get_experiment_by_name(cfg.experiment)
        experiment_id = found.experiment_id if found else mlflow.create_experiment(cfg.experiment,
                                                                                   cfg.artifact_location)
        mlflow.set_experiment(experiment_id=experiment_id)
        _active = (cfg.tracking_uri, cfg.experiment, experiment_id)
        return experiment_id


def client(cfg: TrackingConfig):
    """The MlflowClient bound to this store (tracking and registry) by explicit URIs: made once per store, and
    independent of mlflow's global URI."""
    mlflow = lib()
    with _lock:
        if cfg.tracking_uri not in _clients:
            _make_store_folder(cfg)
            _clients[cfg.tracking_uri] = mlflow.MlflowClient(tracking_uri=cfg.tracking_uri,
                                                             registry_uri=cfg.tracking_uri)
        return _clients[cfg.tracking_uri]


@contextmanager
def tracked_run(cfg: TrackingConfig, run_name: str, tags: Mapping[str, str]) -> Iterator[object]:
    """A fluent run in the store's experiment (configure first), with its tags set; yields the mlflow Run."""
    configure(cfg)
    mlflow = lib()
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tags(dict(tags))
        yield run


def alias_version(mlflow_client, name: str, alias: str):
    """The ModelVersion holding the alias; None when no version does, or nothing is registered under name yet."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = mlflow_client.get_registered_model(name).aliases
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return mlflow_client.get_model_version(name, aliases[alias]) if alias in aliases else None
