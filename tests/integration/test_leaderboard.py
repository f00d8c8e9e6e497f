"""A release's leaderboard (issue 17, item 2) with a real MLflow store: `grainloop leaderboard` scores two
registered versions on the release's test split only, writes the CSV, markdown and plot into the release and logs
them to a run tagged with the release; a second call scores nothing again and logs no second run."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import flows.evaluation
from dataset.leaderboard import LEADERBOARD, REGISTERED, read_leaderboard, release_digest
from dataset.leaderboard_report import LEADERBOARD_MD, LEADERBOARD_PNG
from dataset.manifest import read_manifest
from dataset.release import ReleaseInfo, write_release
from dataset.splits import SplitConfig
from dataset.store import add_items
from flows.leaderboard import ARTIFACTS
from flows.registry import log_trained
from flows.tracking import (KIND_LEADERBOARD, TAG_KIND, TAG_RELEASE, TAG_RELEASE_SHA256, TAG_SCHEMA_HASH,
                            TrackingConfig, client, eval_run_tag)
from foundation.schema import binary_schema
from grainloop.cli import app
from ml.io import read_mask, write_mask
from ml.synthetic import SyntheticConfig, write_dataset
from ml.train_options import train_config
from tests.helpers import random_model_file, synthetic_items


def _release(tmp_path: Path, private: Path | None = None, name: str = "release") -> Path:
    """A release of a dataset version of 8 small synthetic images, a few of them in test."""
    data = tmp_path / "data"
    if not data.exists():
        write_dataset(tmp_path / "syn", 8, SyntheticConfig(height=64, width=80), seed=3)
        add_items(data, synthetic_items(tmp_path / "syn", {"source": "test"}), binary_schema(),
                  SplitConfig(train=0.4, val=0.2, test=0.4))
    info = ReleaseInfo("dataset-v1", "md5", "sha")
    return write_release(data, tmp_path / name, info, withhold_test_masks=private).parent


def _register(tracking: TrackingConfig, folder: Path, seeds=(1, 2)) -> None:
    for seed in seeds:
        model = random_model_file(folder / f"model{seed}.pt", seed=seed, decoder=(8,) * 5)
        log_trained(tracking, model, train_config(epochs=1), {"mean_fg_iou": 0.5})


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    """(project, tracking, release) with two registered versions."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    release, project = _release(tmp_path), tmp_path / "project"
    tracking = TrackingConfig.for_project(project, env={})
    _register(tracking, tmp_path)
    return project, tracking, release


def _leaderboard(project: Path, release: Path):
    result = CliRunner().invoke(app, ["leaderboard", "--release", str(release), "--project", str(project)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _leaderboard_runs(tracking: TrackingConfig) -> list:
    c = client(tracking)
    experiment = c.get_experiment_by_name(tracking.experiment)
    return c.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = '{KIND_LEADERBOARD}'")


def _submit_truth(release: Path, folder: Path) -> Path:
    """An outside submission: the release's own test instance maps (a perfect entry)."""
    for row in (r for r in read_manifest(release) if r.split == "test"):
        write_mask(folder / f"{row.id}.png", read_mask(release / row.instances).astype(np.uint16))
    return folder


def test_registered_versions_are_scored_once_on_the_test_split(setup, tmp_path, monkeypatch):
    project, tracking, release = setup
    test_ids = sorted(r.id for r in read_manifest(release) if r.split == "test")
    assert 0 < len(test_ids) < len(read_manifest(release))
    sub = _submit_truth(release, tmp_path / "sub")
    scored = CliRunner().invoke(app, ["score", "--release", str(release), "--predictions", str(sub), "--kind",
                                      "instance", "--name", "truth", "--out", str(tmp_path / "s.json")])
    assert scored.exit_code == 0, scored.output

    output = _leaderboard(project, release)
    assert "2 version(s) scored now" in output and "grainloop-segmentation@v1" in output
    board = read_leaderboard(release)
    mine = [r for r in board if r["source"] == REGISTERED]
    assert sorted((r["entry"], r["version"]) for r in mine) == [("grainloop-segmentation@v1", "1"),
                                                                 ("grainloop-segmentation@v2", "2")]
    digest = release_digest(release)
    for r in mine:  # the promotion metrics, on the test images only
        assert r["release_sha256"] == digest and int(r["images"]) == len(test_ids)
        for key in ("mean_fg_iou", "iou/grain", "grains/f1", "grains/pq", "grains/count_error",
                    "size_distribution_error"):
            assert r[key] != "", key
    c = client(tracking)
    run_id = c.get_model_version(tracking.model_name, "1").tags[eval_run_tag(f"dataset-v1-release-{digest[:12]}",
                                                                             "test")]
    per_image = Path(c.download_artifacts(run_id, "plots/per_image.csv", str(tmp_path / "dl")))
    assert sorted(r["image_id"] for r in csv.DictReader(io.StringIO(per_image.read_text()))) == test_ids

    md = (release / LEADERBOARD_MD).read_text()
    lines = [line for line in md.splitlines() if line.startswith("| ") and "entry" not in line]
    assert [line.split(" | ")[1] for line in lines][0] == "truth"  # the perfect entry ranks first
    assert {line.split(" | ")[1] for line in lines} == {"truth", "grainloop-segmentation@v1",
                                                        "grainloop-segmentation@v2"}
    assert (release / LEADERBOARD_PNG).read_bytes()[:4] == b"\x89PNG"
    runs = _leaderboard_runs(tracking)
    assert len(runs) == 1 and runs[0].data.tags[TAG_RELEASE] == "dataset-v1"
    assert runs[0].data.tags[TAG_RELEASE_SHA256] == digest
    logged = {Path(a.path).name for a in c.list_artifacts(runs[0].info.run_id, ARTIFACTS)}
    assert logged == {LEADERBOARD, LEADERBOARD_MD, LEADERBOARD_PNG}

    def never(*args, **kwargs):
        raise AssertionError("a recorded score was computed again")

    monkeypatch.setattr(flows.evaluation, "run_evaluation", never)
    monkeypatch.setattr(flows.evaluation, "load_model", never)
    again = _leaderboard(project, release)
    assert "0 version(s) scored now" in again and "2 reused" in again
    assert read_leaderboard(release) == board  # scored_at and every score unchanged
    assert [r.info.run_id for r in _leaderboard_runs(tracking)] == [runs[0].info.run_id]

    _register(tracking, tmp_path, seeds=(3,))  # a version of another label schema cannot be scored on the release
    c.set_model_version_tag(tracking.model_name, "3", TAG_SCHEMA_HASH, "0" * 16)
    other = " ".join(_leaderboard(project, release).split())
    assert "0 version(s) scored now" in other and "not scored, another label schema" in other
    assert "grainloop-segmentation@v3 (label schema 000000000000" in other and read_leaderboard(release) == board


def test_a_release_that_withholds_its_test_masks_is_scored_with_its_private_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project, private = tmp_path / "project", tmp_path / "private"
    release = _release(tmp_path, private)
    assert release_digest(release, private) == release_digest(_release(tmp_path, name="public"))  # the same split
    _register(TrackingConfig.for_project(project, env={}), tmp_path, seeds=(1,))
    args = ["leaderboard", "--release", str(release), "--project", str(project)]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "give its private folder" in " ".join(refused.output.split())
    scored = CliRunner().invoke(app, [*args, "--private", str(private)])
    assert scored.exit_code == 0, scored.output + repr(scored.exception)
    [row] = read_leaderboard(release)
    tests = [r for r in read_manifest(release) if r.split == "test"]
    assert row["entry"] == "grainloop-segmentation@v1" and int(row["images"]) == len(tests)
    assert row["release_sha256"] == release_digest(release, private)
