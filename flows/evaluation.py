"""Registered versions evaluated on a dataset version's frozen test split; each evaluation is an MLflow run.

Promotion compares the challenger and the champion on the same split of the newest dataset version, so both
are evaluated here (once per version and dataset: a rerun reuses the recorded evaluation).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from flows.registry import CHECKPOINT, TAG, log_files, numeric
from flows.tracking import TrackingConfig, client as make_client, lib
from grainloop.runs import dataset_spec, run_evaluation
from ml.checkpoint import load_model
from ml.predict import PredictConfig

EVAL_TAG = "grainloop.eval_dataset"


@dataclass(frozen=True)
class EvalTarget:
    """A checked-out dataset version and its tag; ``split`` is the frozen split to evaluate on."""

    data_dir: Path
    dataset: str
    split: str = "test"

    @property
    def key(self) -> str:
        return f"{TAG}eval.{self.dataset}.{self.split}"


def checkpoint(tracking: TrackingConfig, version: str, dest: Path) -> Path:
    """The grainloop checkpoint (weights, schema, preprocessing) of a registered version."""
    client = make_client(tracking)
    mv = client.get_model_version(tracking.model_name, str(version))
    return Path(client.download_artifacts(mv.run_id, CHECKPOINT, str(dest)))


def _recorded(client, tracking: TrackingConfig, version: str, target: EvalTarget) -> dict | None:
    run_id = client.get_model_version(tracking.model_name, version).tags.get(target.key)
    return dict(client.get_run(run_id).data.metrics) if run_id else None


def evaluate_version(tracking: TrackingConfig, version: str | int, target: EvalTarget) -> dict[str, float]:
    """Metrics of a version on the target split (recorded as an evaluation run, and reused on reruns)."""
    client, version = make_client(tracking), str(version)
    if (found := _recorded(client, tracking, version, target)) is not None:
        return found
    mlflow = lib()
    with tempfile.TemporaryDirectory() as tmp:
        net, artifact = load_model(checkpoint(tracking, version, Path(tmp)))
        out = Path(tmp) / "evaluation"
        metrics = numeric(run_evaluation(net, artifact, dataset_spec(target.data_dir), out, PredictConfig(), 4,
                                         target.split))
        with mlflow.start_run(run_name=f"evaluate v{version} on {target.dataset}/{target.split}") as run:
            mlflow.set_tags({f"{TAG}kind": "evaluation", f"{TAG}version": version, EVAL_TAG: target.dataset,
                             f"{TAG}split": target.split})
            mlflow.log_metrics(metrics)
            log_files([out / "confusion_matrix.png", out / "per_image.csv", *sorted((out / "overlays").glob("*.png"))])
    client.set_model_version_tag(tracking.model_name, version, target.key, run.info.run_id)
    return metrics
