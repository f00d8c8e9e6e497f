"""Registered versions evaluated on a dataset version's frozen test split; each evaluation is an MLflow run.

Promotion compares the challenger and the champion on the same split of the newest dataset version, so both
are evaluated here (once per version and dataset: a rerun reuses the recorded evaluation).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flows.registry import CHECKPOINT, log_files, numeric
from flows.tracking import (KIND_EVALUATION, TAG_EVAL_DATASET, TAG_KIND, TAG_SPLIT, TAG_VERSION, TrackingConfig,
                            client as make_client, eval_run_tag, lib, tracked_run)
from dataset.spec import dataset_spec
from foundation.atomic import write_atomic
from foundation.digest import sha256_file
from ml.runs import run_evaluation
from ml.checkpoint import load_model
from ml.predict import PredictConfig


@dataclass(frozen=True)
class EvalTarget:
    """A checked-out dataset version and its tag; ``split`` is the frozen split to evaluate on."""

    data_dir: Path
    dataset: str
    split: str = "test"

    @property
    def key(self) -> str:
        return eval_run_tag(self.dataset, self.split)


def checkpoint(tracking: TrackingConfig, version: str, dest: Path) -> Path:
    """The grainloop checkpoint (weights, schema, preprocessing) of a registered version, under dest/RUN_ID.
    A run's artifacts never change, so one already there is reused if it still has the sha256 recorded beside it
    at download; a missing record, a mismatch (a corrupt or truncated file) or an unreadable file downloads it
    again. A download lands whole or not at all."""
    client = make_client(tracking)
    mv = client.get_model_version(tracking.model_name, str(version))
    found = Path(dest) / mv.run_id / CHECKPOINT
    if not cached_intact(found):
        found.parent.mkdir(parents=True, exist_ok=True)
        _digest_file(found).unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(dir=found.parent) as tmp:
            got = Path(client.download_artifacts(mv.run_id, CHECKPOINT, tmp))
            digest = sha256_file(got)
            os.replace(got, found)
        write_atomic(_digest_file(found), digest)
    return found


def _digest_file(path: Path) -> Path:
    return path.with_name(f"{path.name}.sha256")


def cached_intact(path: Path) -> bool:
    """Whether a cached download is still what was downloaded (its sha256 matches the one recorded beside it)."""
    try:
        return path.is_file() and sha256_file(path) == _digest_file(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return False


def _recorded(client, tracking: TrackingConfig, version: str, target: EvalTarget) -> dict | None:
    run_id = client.get_model_version(tracking.model_name, version).tags.get(target.key)
    return dict(client.get_run(run_id).data.metrics) if run_id else None


def evaluate_version(tracking: TrackingConfig, version: str | int, target: EvalTarget) -> dict[str, float]:
    """Metrics of a version on the target split (recorded as an evaluation run, and reused on reruns)."""
    client, version = make_client(tracking), str(version)
    if (found := _recorded(client, tracking, version, target)) is not None:
        return found
    with tempfile.TemporaryDirectory() as tmp:
        net, artifact = load_model(checkpoint(tracking, version, Path(tmp)))
        out = Path(tmp) / "evaluation"
        metrics = numeric(run_evaluation(net, artifact, dataset_spec(target.data_dir), out, PredictConfig(), 4,
                                         target.split))
        return record_evaluation(tracking, version, target, metrics, out)


def record_evaluation(tracking: TrackingConfig, version: str, target: EvalTarget, metrics: dict[str, float],
                      out: Path) -> dict[str, float]:
    """An evaluation run of the version on the target (metrics, and the confusion matrix, per-image table and
    overlays that run_evaluation wrote to out), tagged on the version so evaluate_version reuses it."""
    tags = {TAG_KIND: KIND_EVALUATION, TAG_VERSION: version, TAG_EVAL_DATASET: target.dataset, TAG_SPLIT: target.split}
    with tracked_run(tracking, f"evaluate v{version} on {target.dataset}/{target.split}", tags) as run:
        lib().log_metrics(metrics)
        log_files([out / "confusion_matrix.png", out / "per_image.csv", *sorted((out / "overlays").glob("*.png"))])
    make_client(tracking).set_model_version_tag(tracking.model_name, version, target.key, run.info.run_id)
    return metrics
