"""Dataset versions with real git and DVC: a temporary repository, a local remote, a fresh clone that pulls."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dataset.commit as dataset_commit
from dataset.commit import checkout_version, commit_version
from dataset.versioning import VersionConfig, VersioningError, versions
from foundation.schema import binary_schema
from dataset.coco import masks_from_annotations
from dataset.manifest import read_manifest, sha256_file
from dataset.release import COCO_FILE, ReleaseInfo, write_release
from dataset.store import add_items
from dataset.validate import DatasetInvalid
from ml.io import read_mask, write_mask
from tests.helpers import random_model_file, synthetic_items

SCHEMA = binary_schema()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def _items(folder: Path) -> list:
    return synthetic_items(folder, {"source": "synthetic"})


def test_versions_push_and_pull_in_a_fresh_clone(repo, tmp_path, synthetic_dataset):
    items = _items(synthetic_dataset)
    add_items(repo.data_dir, items[:8], SCHEMA)
    v1 = commit_version(repo).version
    assert v1.tag == "dataset-v1" and v1.md5.endswith(".dir")
    assert commit_version(repo).version is None  # nothing new: no version
    splits_v1 = {r.id: r.split for r in read_manifest(repo.data_dir)}
    add_items(repo.data_dir, items, SCHEMA)
    v2 = commit_version(repo).version
    assert [v.tag for v in versions(repo)] == ["dataset-v1", "dataset-v2"]
    assert _git(repo.root, "status", "--porcelain") == ""

    clone = VersionConfig(tmp_path / "clone")
    _git(tmp_path, "clone", "-q", str(repo.root), str(clone.root))
    old = checkout_version(clone, "dataset-v1", tmp_path / "v1")  # no cache in the clone: read from the remote
    rows_v1 = read_manifest(old)
    assert {r.id: r.split for r in rows_v1} == splits_v1
    assert all(sha256_file(old / r.image) == r.sha256 for r in rows_v1)
    new = {r.id: r.split for r in read_manifest(checkout_version(clone, v2.tag, tmp_path / "v2"))}
    assert {k: new[k] for k in splits_v1} == splits_v1 and len(new) == 12
    with pytest.raises(VersioningError, match="dataset-v1, dataset-v2"):
        checkout_version(clone, "dataset-v9", tmp_path / "nope")


def test_failure_before_the_tag_leaves_no_half_version(repo, synthetic_dataset, monkeypatch):
    add_items(repo.data_dir, _items(synthetic_dataset)[:4], SCHEMA)
    head, status = _git(repo.root, "rev-parse", "HEAD"), _git(repo.root, "status", "--porcelain")

    def broken(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(dataset_commit, "tag_version", broken)
    with pytest.raises(VersioningError, match="nothing was versioned"):
        commit_version(repo)
    assert versions(repo) == [] and _git(repo.root, "rev-parse", "HEAD") == head
    assert _git(repo.root, "status", "--porcelain") == status and not repo.dvc_file.exists()
    assert len(read_manifest(repo.data_dir)) == 4  # the data itself is untouched
    monkeypatch.undo()
    assert commit_version(repo).version.tag == "dataset-v1"


def test_an_invalid_dataset_is_not_versioned(repo, synthetic_dataset):
    add_items(repo.data_dir, _items(synthetic_dataset)[:3], SCHEMA)
    row = read_manifest(repo.data_dir)[0]
    write_mask(repo.data_dir / row.mask, np.full(read_mask(repo.data_dir / row.mask).shape, 7, np.uint8))
    with pytest.raises(DatasetInvalid, match=r"\[7\]"):
        commit_version(repo)
    assert versions(repo) == []


def test_release_coco_loads_back_to_the_same_masks(repo, tmp_path, synthetic_dataset):
    add_items(repo.data_dir, _items(synthetic_dataset), SCHEMA)
    v1 = commit_version(repo).version
    folder = checkout_version(repo, v1.tag, tmp_path / "co")
    card = write_release(folder, tmp_path / "release", ReleaseInfo(v1.tag, v1.md5, v1.commit))
    doc = json.loads((card.parent / COCO_FILE).read_text())
    for image in doc["images"]:
        anns = [a for a in doc["annotations"] if a["image_id"] == image["id"]]
        class_map, inst = masks_from_annotations(anns, (image["height"], image["width"]))
        row = next(r for r in read_manifest(folder) if r.id == image["grainloop_id"])
        assert np.array_equal(class_map, read_mask(card.parent / row.mask))
        truth = read_mask(card.parent / row.instances)
        assert len(np.unique(inst)) == len(np.unique(truth))  # same grains, one annotation each
    text = card.read_text()
    assert "dataset-v1" in text and "| test |" in text and "@misc" in text
    assert sorted((card.parent / "splits").iterdir())[0].name == "test.txt"


def test_a_fresh_clone_of_the_project_starts_from_the_empty_state_data_dvc_records(tmp_path):
    from typer.testing import CliRunner

    from grainloop.cli import app

    root = Path(__file__).resolve().parents[2]
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(root), str(clone))
    result = CliRunner().invoke(app, ["dataset", "init", "--repo", str(clone)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (clone / "data").iterdir()) == ["manifest.csv", "schema.yaml"]
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "data.dvc"], cwd=clone, capture_output=True,
                            text=True)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr
    assert _git(clone, "status", "--porcelain") == ""  # data.dvc is exactly what the repository holds


def test_a_training_record_goes_with_its_version_and_moves_the_tag_once(repo, tmp_path, synthetic_dataset):
    from dataset.pipeline import RECORD, WARM_START, TrainingRecord, record_training
    from ml.train_options import load_params, train_config

    items = _items(synthetic_dataset)
    add_items(repo.data_dir, items[:6], SCHEMA)
    v1 = commit_version(repo).version
    warm = random_model_file(tmp_path / "champion.pt", 1)
    record = TrainingRecord("dataset-v1", 4, "time_budget", 30, 1.0, threads=2, device="cpu", warm_start_from="7")
    commit = record_training(repo, train_config(epochs=30, minutes=1.0), record, warm)
    assert commit and commit != v1.commit and _git(repo.root, "rev-list", "-n", "1", "dataset-v1") == commit
    assert _git(repo.root, "diff", "--name-only", v1.commit, commit, "--", "data.dvc") == ""  # same data
    assert versions(repo)[0].md5 == v1.md5 and _git(repo.root, "status", "--porcelain") == ""
    replay = load_params(repo.root / "params.yaml")
    assert replay.epochs == 4 and replay.max_minutes is None and replay.threads == 2
    saved = json.loads((repo.root / RECORD).read_text())
    assert saved["warm_start_from"] == "7" and saved["warm_start_sha256"] == sha256_file(warm)
    assert (repo.root / f"{WARM_START}.dvc").exists()
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "-c", "-q"], cwd=repo.root)
    assert status.returncode == 0  # the warm start is in the remote

    assert record_training(repo, train_config(epochs=30, minutes=1.0), record, warm) == commit  # no second commit
    add_items(repo.data_dir, items, SCHEMA)
    commit_version(repo)
    assert record_training(repo, train_config(), record, warm) is None  # a newer version is on top: left alone
