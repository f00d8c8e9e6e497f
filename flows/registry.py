"""A training run in MLflow: typed config as params, per-epoch and final metrics, plots, tags, and the model
registered as a new version with alias ``challenger``.

The registered model is the served pyfunc (flows.served_model: images in, class maps out, grainloop's
preprocessing and sliding windows inside). The raw network is logged beside it (artifact NETWORK) in the pickle
format with a signature whose batch, height and width are -1: the default (pt2) format traces the model and freezes
the example's shapes, so other batch or tile sizes would then fail. The grainloop checkpoint (CHECKPOINT) is what
the loop itself reads back (pre-annotation, evaluation, adoption), so versions registered before the pyfunc keep
working.
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from flows.tracking import (CHALLENGER, CHAMPION, FINAL_PREFIX, KIND_TRAINING, LINEAGE_TAGS, TAG_DATA_DVC_MD5,
                            TAG_DATASET, TAG_EVAL_DATASET, TAG_GIT_SHA, TAG_KIND, TAG_PROMOTION, TAG_SCHEMA_HASH,
                            TAG_WEIGHTS_SHA256, VAL_PREFIX, TrackingConfig, alias_version, client as make_client,
                            configure, lib)
from dataset.versioning import md5_of
from ml.runs import TrainSpec, run_evaluation, run_training, split_files
from flows.served_model import log_served_model
from ml.checkpoint import load_model, read_artifact, weights_sha256
from ml.config import flatten, to_dict
from ml.train import EpochRecord, TrainConfig, TrainResult

CHECKPOINT = "checkpoint/model.pt"  # the grainloop checkpoint inside each training run's artifacts
NETWORK = "network"  # the raw network (mlflow.pytorch) beside the registered pyfunc
# what the served model's code (ml/, foundation/) imports, pinned to this environment's versions
SERVED_PACKAGES = ("torchvision", "numpy", "scipy", "scikit-image", "tifffile", "imagecodecs", "zarr", "albumentations",
                   "opencv-python-headless", "pandas", "matplotlib", "rich", "pyyaml", "pydantic", "cloudpickle")
SECRET_KEY = re.compile(r"token|secret|password|passwd|api[_-]?key|credential|access[_-]?key", re.I)


@dataclass(frozen=True)
class RunTags:
    """What the run was trained and evaluated on; empty values are left out."""
    dataset: Optional[str] = None  # e.g. the DVC tag dataset-v3 (its test split produced the final metrics)
    data_dvc: Optional[Path] = None  # data.dvc, whose md5 identifies the dataset version
    git_sha: Optional[str] = None  # default: HEAD of the repository holding the current folder
    schema_hash: Optional[str] = None


@dataclass(frozen=True)
class LoggedVersion:
    run_id: str
    version: str
    model_uri: str
    test_metrics: Optional[dict[str, float]] = None  # on the spec's frozen test split, when it was evaluated


def safe_params(params: Mapping[str, object]) -> dict[str, str]:
    """Params as strings, without any key that names a secret (token, password, key...)."""
    return {k: str(v) for k, v in params.items() if not SECRET_KEY.search(k)}


def numeric(metrics: Mapping[str, object], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a metrics dict, keys prefixed."""
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {f"{prefix}{k}": v for k, v in numbers.items() if math.isfinite(v)}


def epoch_metrics(mlflow=None) -> Callable[[EpochRecord], None]:
    """An epoch-end callback for ml.train: losses (the GAN trainer's too), learning rate and validation metrics at
    step = epoch."""
    mlflow = mlflow or lib()

    def on_epoch(r: EpochRecord) -> None:
        mlflow.log_metrics({"train_loss": r.train_loss, "lr": r.lr, "epoch_seconds": r.seconds,
                            **numeric(r.losses), **numeric(r.metrics, VAL_PREFIX)}, step=r.epoch)
    return on_epoch


def git_sha(folder: Path = Path(".")) -> Optional[str]:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def dvc_md5(path: Path) -> Optional[str]:
    """The md5 of the first output of a .dvc file (data.dvc tracks data/)."""
    return md5_of(Path(path).read_text()) or None


def tag_values(tags: RunTags) -> dict[str, str]:
    values = {TAG_DATASET: tags.dataset, TAG_EVAL_DATASET: tags.dataset, TAG_SCHEMA_HASH: tags.schema_hash,
              TAG_GIT_SHA: tags.git_sha or git_sha(),
              TAG_DATA_DVC_MD5: dvc_md5(tags.data_dvc) if tags.data_dvc else None}
    return {k: str(v) for k, v in values.items() if v}


def signature(in_channels: int, classes: int):
    """The raw network's: any batch size and tile size, only the channel counts are fixed."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    return ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, in_channels, -1, -1), "image")]),
                          outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, classes, -1, -1), "logits")]))


def requirements() -> list[str]:
    return [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={installed_version('mlflow')}",
            f"segmentation-models-pytorch=={installed_version('segmentation-models-pytorch')}",
            *(f"{p}=={installed_version(p)}" for p in SERVED_PACKAGES)]


def log_model(checkpoint: Path, model_name: str):
    """Into the active run: the raw network (mlflow.pytorch, artifact NETWORK: logits of preprocessed input) and
    the served pyfunc (artifact ``model``: images in, class maps out; flows.served_model), registered as a new
    version of model_name. Returns the pyfunc's model info."""
    model, artifact = load_model(checkpoint)
    mc, pins = artifact.model_config, requirements()
    lib().pytorch.log_model(model.cpu().eval(), name=NETWORK, signature=signature(mc.in_channels, mc.classes),
                            serialization_format="pickle", pip_requirements=pins)
    return log_served_model(checkpoint, mc.in_channels, model_name, pins)


def log_files(files: Sequence[Path], folder: str = "plots") -> None:
    for path in files:
        if Path(path).is_file():
            lib().log_artifact(str(path), artifact_path=folder)


def log_checkpoint(model_path: Path) -> None:
    """The checkpoint under the fixed name CHECKPOINT, whatever the file is called."""
    folder, name = CHECKPOINT.split("/")
    with tempfile.TemporaryDirectory() as tmp:
        lib().log_artifact(str(shutil.copyfile(model_path, Path(tmp) / name)), artifact_path=folder)


def finish_run(tracking: TrackingConfig, model_path: Path, cfg: TrainConfig, final: Mapping[str, object],
               files: Sequence[Path], tags: RunTags) -> LoggedVersion:
    """Log params, final metrics, files, tags, the model and its grainloop checkpoint (schema and preprocessing
    travel with it) into the active run; register it and tag it ``challenger``."""
    mlflow = lib()
    artifact, _ = read_artifact(model_path)
    log_checkpoint(model_path)
    mlflow.log_params(safe_params(flatten(to_dict(replace(cfg, model=artifact.model_config)))))
    mlflow.log_metrics(numeric(final, FINAL_PREFIX))
    mlflow.log_dict(numeric(final), "final_metrics.json")
    log_files(files)
    run_tags = {**tag_values(replace(tags, schema_hash=tags.schema_hash or artifact.schema.hash)),
                TAG_KIND: KIND_TRAINING, TAG_WEIGHTS_SHA256: weights_sha256(model_path)}  # found again if adopted
    mlflow.set_tags(run_tags)
    info = log_model(model_path, tracking.model_name)
    version = str(info.registered_model_version)
    client = make_client(tracking)
    for key, value in run_tags.items():
        client.set_model_version_tag(tracking.model_name, version, key, value)
    client.set_registered_model_alias(tracking.model_name, CHALLENGER, version)
    return LoggedVersion(mlflow.active_run().info.run_id, version, f"models:/{tracking.model_name}/{version}")


def log_trained(tracking: TrackingConfig, model_path: Path, cfg: TrainConfig, final: Mapping[str, object],
                files: Sequence[Path] = (), tags: RunTags = RunTags(), run_name: Optional[str] = None) -> LoggedVersion:
    """A finished model file (ml.checkpoint) as a new run and registered version."""
    configure(tracking)
    with lib().start_run(run_name=run_name):
        return finish_run(tracking, model_path, cfg, final, files, tags)


def _training_runs(client, tracking: TrackingConfig, dataset: str) -> dict[str, dict]:
    """run id -> tags of the training runs on a dataset tag (tagged before their model is logged)."""
    experiment = client.get_experiment_by_name(tracking.experiment)
    if experiment is None:
        return {}
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = '{KIND_TRAINING}' and "
                                                          f"tags.`{TAG_DATASET}` = '{dataset}'")
    return {r.info.run_id: r.data.tags for r in runs}


def _complete(client, tracking: TrackingConfig, mv, run_tags: Optional[Mapping[str, str]]) -> None:
    """Finish a registration that died part-way: the run's lineage tags onto the version, then ``challenger`` as
    finish_run would have moved it (unless the version was judged or is the champion since, or a newer version
    holds it)."""
    name, version = tracking.model_name, str(mv.version)
    keys = (*LINEAGE_TAGS, TAG_EVAL_DATASET, TAG_KIND)
    for key, value in (run_tags or {}).items():
        if key in keys and mv.tags.get(key) != value:
            client.set_model_version_tag(name, version, key, value)
    champion, challenger = alias_version(client, name, CHAMPION), alias_version(client, name, CHALLENGER)
    if (challenger is None or int(challenger.version) < int(version)) and not mv.tags.get(TAG_PROMOTION) \
            and (champion is None or str(champion.version) != version):
        client.set_registered_model_alias(name, CHALLENGER, version)


def registered_version(tracking: TrackingConfig, dataset: str) -> Optional[str]:
    """The version registered for a dataset tag: by the version's own tag, or, when its registration died before
    the version was tagged, by its training run's tags (set before the model is logged). A half-finished
    registration is completed, so a rerun finds it and registers no second version."""
    from mlflow.exceptions import MlflowException

    client, name = make_client(tracking), tracking.model_name
    try:
        found = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    runs = _training_runs(client, tracking, dataset) if found else {}
    mine = [v for v in found if v.tags.get(TAG_DATASET) == dataset or v.run_id in runs]
    if not mine:
        return None
    mv = max(mine, key=lambda v: int(v.version))
    _complete(client, tracking, mv, runs.get(mv.run_id))
    return str(mv.version)


def test_evaluation(spec: TrainSpec, model_path: Path, out: Path, split: str = "test"):
    """(metrics, plots) of the trained model on the spec's frozen test split; None without one (or if empty)."""
    from ml.predict import PredictConfig

    if spec.splits is None or not split_files(spec, (split,)):
        return None
    model, artifact = load_model(model_path)
    metrics = run_evaluation(model, artifact, spec, out, PredictConfig(), 4, split)
    return metrics, [out / "confusion_matrix.png", *sorted((out / "overlays").glob("*.png"))]


def train_and_log(tracking: TrackingConfig, spec: TrainSpec, cfg: TrainConfig, out: Path, tags: RunTags = RunTags(),
                  files: Sequence[Path] = (), run_name: Optional[str] = None,
                  final: Optional[Mapping[str, object]] = None,
                  on_trained: Optional[Callable[[TrainResult], RunTags]] = None) -> LoggedVersion:
    """Train with per-epoch metrics streamed to MLflow, then log and register the model. ``final``: the
    caller's test metrics; else the frozen test split's (with its confusion matrix and overlays) when the spec
    is a dataset version with one; else the best validation epoch's metrics. ``on_trained`` sees the result
    before the model is registered and returns the run's tags (the loop commits its training record there)."""
    mlflow = lib()
    configure(tracking)
    with mlflow.start_run(run_name=run_name):
        result = run_training(spec, cfg, out, callbacks=[epoch_metrics(mlflow)])
        mlflow.log_params({"stopped": result.stopped, "threads_used": result.threads, "precision_used": result.precision})  # what the run really did
        mlflow.log_metric("epochs_run", result.state.epoch)
        tags = on_trained(result) if on_trained else tags
        best = next((h for h in result.state.history if h["epoch"] == result.state.best_epoch), {})
        tested = test_evaluation(spec, result.model_path, out / "test") if final is None else None
        if tested:
            final, files = tested[0], [*files, *tested[1]]
        tags = replace(tags, schema_hash=tags.schema_hash or spec.schema.hash)
        logged = finish_run(tracking, result.model_path, cfg, final if final is not None else best,
                            [out / "learning_curve.png", *files], tags)
    return replace(logged, test_metrics=numeric(tested[0])) if tested else logged
