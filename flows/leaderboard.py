"""A release's leaderboard: every registered version of a model scored on the release's frozen test split.

Each version not yet on the release's leaderboard.csv for this release (its model name, version and the digest of
the release's test split) is scored the way promotion scores it (flows.evaluation.evaluate_version: the version's
checkpoint, ml.runs.run_evaluation on the test split only, the evaluation recorded as an MLflow run and tagged on
the version, so it too is reused); a version already there is not scored again. The table (CSV, markdown, plot)
holds outside entries (`grainloop score --name`) beside the registered versions, and is logged to a leaderboard
run tagged with the release; a rerun that changes nothing logs no second run.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dataset.leaderboard import (LEADERBOARD, MODEL_KIND, LeaderboardError, read_leaderboard, registered_entry,
                                 release_digest, scoring_view)
from dataset.leaderboard_report import ranked, write_reports
from dataset.manifest import SCHEMA
from dataset.release import WITHHELD_SPLIT
from dataset.score import HEADLINE
from flows.evaluation import EvalTarget, evaluate_version
from flows.registry import log_files
from flows.tracking import (KIND_LEADERBOARD, SCORE, SIZE_ERROR, TAG_KIND, TAG_LEADERBOARD_SHA256, TAG_MODEL,
                            TAG_RELEASE, TAG_RELEASE_SHA256, TAG_SCHEMA_HASH, TrackingConfig, client as make_client,
                            prediction_version, tracked_run)
from foundation.digest import sha256_file
from foundation.schema import LabelSchema

TABLE_METRICS = tuple(k for k in HEADLINE if k.startswith("grains/") or k == SIZE_ERROR)  # beside SCORE, per class
PLOTTED = (SCORE, "grains/f1")  # the bars of leaderboard.png
ARTIFACTS = "leaderboard"  # the leaderboard run's artifact folder


@dataclass(frozen=True)
class LeaderboardConfig:
    release: Path  # a release folder (grainloop dataset release)
    tracking: TrackingConfig  # the store, and the registered model whose versions are scored (model_name)
    private: Optional[Path] = None  # the test masks of a release that withholds them (--withhold-test-masks)


@dataclass(frozen=True)
class Leaderboard:
    rows: tuple[dict, ...]  # every entry, best first
    scored: tuple[str, ...]  # the entries scored by this call
    reused: tuple[str, ...]  # registered entries whose recorded scores were reused
    skipped: tuple[str, ...]  # versions not scored, with the reason (another label schema than the release's)
    files: tuple[Path, ...]  # leaderboard.csv, .md and .png in the release folder
    run_id: str  # the MLflow run holding the files
    release: str  # the release's tag
    digest: str  # the sha256 of its test split


def release_tag(release: Path) -> str:
    """The release's dataset version tag (release.json), else its folder's name."""
    info = release / "release.json"
    return json.loads(info.read_text()).get("tag", release.name) if info.exists() else release.name


def registered_versions(tracking: TrackingConfig) -> list:
    """The ModelVersions registered under the model name, oldest first (none when nothing is registered)."""
    found = make_client(tracking).search_model_versions(f"name = '{tracking.model_name}'")
    return sorted(found, key=lambda v: int(v.version))


def _other_schema(version, schema_hash: str) -> str:
    """Why the version cannot be scored on the release: its label schema differs (empty: it can)."""
    found = version.tags.get(TAG_SCHEMA_HASH)
    return f"label schema {found[:12]}, the release's {schema_hash[:12]}" if found and found != schema_hash else ""


def _score(tracking: TrackingConfig, version: str, target: EvalTarget):
    def run() -> dict:
        metrics = evaluate_version(tracking, version, target)
        return {"kind": MODEL_KIND, "images": int(metrics["n_images"]), "metrics": metrics}
    return run


def _logged_run(tracking: TrackingConfig, tag: str, digest: str, table_sha: str) -> str | None:
    """The latest leaderboard run of this release, when it holds this very table."""
    client = make_client(tracking)
    experiment = client.get_experiment_by_name(tracking.experiment)
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = '{KIND_LEADERBOARD}' and "
                              f"tags.`{TAG_RELEASE_SHA256}` = '{digest}' and tags.`{TAG_MODEL}` = "
                              f"'{tracking.model_name}' and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=1) if experiment else []
    return runs[0].info.run_id if runs and runs[0].data.tags.get(TAG_LEADERBOARD_SHA256) == table_sha else None


def _log(tracking: TrackingConfig, tag: str, digest: str, files: tuple[Path, ...]) -> str:
    table_sha = sha256_file(files[0])
    if (found := _logged_run(tracking, tag, digest, table_sha)) is not None:
        return found
    tags = {TAG_KIND: KIND_LEADERBOARD, TAG_RELEASE: tag, TAG_RELEASE_SHA256: digest, TAG_MODEL: tracking.model_name,
            TAG_LEADERBOARD_SHA256: table_sha}
    with tracked_run(tracking, f"leaderboard {tag}", tags) as run:
        log_files(files, ARTIFACTS)
    return run.info.run_id


def build_leaderboard(cfg: LeaderboardConfig) -> Leaderboard:
    """Score every registered version not yet on the release's leaderboard, then write and log the table."""
    release, tracking = Path(cfg.release), cfg.tracking
    tag, digest = release_tag(release), release_digest(release, cfg.private)
    scored, reused, skipped, schema_hash = [], [], [], LabelSchema.load(release / SCHEMA).hash
    with tempfile.TemporaryDirectory() as tmp:  # the test split alone: no other image can be evaluated
        # the target's name (tag and digest) keys the version tag that records its evaluation there
        target = EvalTarget(scoring_view(release, Path(tmp), cfg.private), f"{tag}-release-{digest[:12]}",
                            WITHHELD_SPLIT)
        for mv in registered_versions(tracking):
            version, entry = str(mv.version), prediction_version(tracking.model_name, mv.version)
            if why := _other_schema(mv, schema_hash):
                skipped.append(f"{entry} ({why})")
                continue
            _, was = registered_entry(release, entry, tracking.model_name, version, digest,
                                      _score(tracking, version, target), HEADLINE)
            (reused if was else scored).append(entry)
    rows = read_leaderboard(release)
    if not rows:
        raise LeaderboardError(f"nothing to rank on {release}: no version of {tracking.model_name!r} is registered "
                               "and no outside entry was scored (grainloop score --name)")
    md, png = write_reports(release, rows, SCORE, TABLE_METRICS, PLOTTED, f"Leaderboard — {tag}")
    files = (release / LEADERBOARD, md, png)
    return Leaderboard(tuple(ranked(rows, SCORE)), tuple(scored), tuple(reused), tuple(skipped), files,
                       _log(tracking, tag, digest, files), tag, digest)
