"""`train`: a dataset version becomes a registered challenger, and the workspace records how to replay it.

Training starts from the champion's checkpoint when its label schema is the loop's. The training is the same
function `dvc repro` runs (ml.runs.run_training through `grainloop train --params`); once it is done, the
workspace gets dvc.yaml, params.yaml rewritten to replay what happened (epochs run, threads) and the warm start as
a DVC-tracked file, committed with the version (dataset/pipeline.py). A dataset tag is trained once.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

from prefect import task

from dataset.commit import checkout_version
from dataset.pipeline import TrainingRecord, record_training
from dataset.spec import dataset_spec
from dataset.versioning import Version
from flows.evaluation import EvalTarget, checkpoint, record_evaluation
from flows.loop_config import LoopConfig
from flows.registry import RunTags, registered_version, train_and_log
from flows.tracking import CHAMPION, TAG_SCHEMA_HASH, alias_version, client as make_client
from ml.train import TrainResult


def version_folder(cfg: LoopConfig, version: Version) -> Path:
    """The version's data folder, checked out once into the state folder."""
    dest = cfg.state_dir / "datasets" / version.tag
    return dest if (dest / "manifest.csv").exists() else checkout_version(cfg.versions, version.tag, dest)


@task(name="dataset folder")
def dataset_folder(cfg: LoopConfig, version: Version) -> Path:
    return version_folder(cfg, version)


def registered_for(cfg: LoopConfig, dataset: str) -> Optional[str]:
    """The registered version already trained on this dataset tag (so a rerun does not train twice), also when
    its registration died before the version was tagged (flows/registry.py completes it)."""
    return registered_version(cfg.tracking, dataset)


def warm_start(cfg: LoopConfig) -> tuple[Optional[str], Optional[Path]]:
    """(champion version, its checkpoint) when its label schema is this loop's; else (None, None): start fresh."""
    mv = alias_version(make_client(cfg.tracking), cfg.tracking.model_name, CHAMPION)
    if mv is None or mv.tags.get(TAG_SCHEMA_HASH) != cfg.schema.hash:
        return None, None
    return str(mv.version), checkpoint(cfg.tracking, mv.version, cfg.state_dir / "champion")


def recorder(cfg: LoopConfig, version: Version, tags: RunTags, start: tuple[Optional[str], Optional[Path]]):
    """A hook for train_and_log: commit the replayable record, and name that commit in the run's lineage."""
    def on_trained(result: TrainResult) -> RunTags:
        record = TrainingRecord(version.tag, result.state.epoch, result.stopped, cfg.train.epochs,
                                cfg.train.max_minutes, result.threads, result.device, warm_start_from=start[0],
                                precision=result.precision)
        commit = record_training(cfg.versions, cfg.train, record, start[1])
        return replace(tags, git_sha=commit or tags.git_sha)
    return on_trained


def train(cfg: LoopConfig, version: Version) -> str:
    """Train on a dataset version (warm start from a matching champion), log and register a challenger."""
    if (done := registered_for(cfg, version.tag)) is not None:
        return done
    folder, out = dataset_folder(cfg, version), cfg.runs_dir / version.tag
    start = warm_start(cfg)
    spec = dataset_spec(folder, warm_start=start[1], resume=False)
    tags = RunTags(version.tag, cfg.versions.dvc_file, version.commit, cfg.schema.hash)
    logged = train_and_log(cfg.tracking, spec, cfg.train, out, tags, run_name=f"train {version.tag}",
                           on_trained=recorder(cfg, version, tags, start))
    if logged.test_metrics is not None:  # the promotion's evaluation of this challenger, already done
        record_evaluation(cfg.tracking, logged.version, EvalTarget(folder, version.tag), logged.test_metrics,
                          out / "test")
    return logged.version
