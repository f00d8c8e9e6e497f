"""`dvc repro` of the project's dvc.yaml at a dataset tag, then again in a fresh clone: same model metrics."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dataset.commit import commit_version
from dataset.versioning import RemoteConfig, VersionConfig, init
from foundation.schema import binary_schema
from dataset.store import Incoming, add_items
from ml.train_options import load_params, params_dict, with_options

ROOT = Path(__file__).resolve().parents[2]
TINY = {"decoder_channels": (16, 16, 16, 16, 16), "epochs": 2, "restart_epochs": 2, "patch": 64, "patches_per_epoch": 8,
        "batch_size": 4, "threads": 2}


def _run(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{ROOT / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def _dvc(cwd: Path, *args: str) -> str:
    return _run(cwd, sys.executable, "-m", "dvc", *args)


@pytest.mark.slow
def test_repro_at_a_dataset_tag_reproduces_the_metrics(tmp_path, synthetic_dataset):
    repo = VersionConfig(tmp_path / "repo")
    repo.root.mkdir()
    init(repo, RemoteConfig(url=str(tmp_path / "remote")))
    shutil.copyfile(ROOT / "dvc.yaml", repo.root / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"] = params_dict(with_options(load_params(ROOT / "params.yaml"), **TINY))
    (repo.root / "params.yaml").write_text(yaml.safe_dump(params))
    _run(repo.root, "git", "add", "dvc.yaml", "params.yaml")
    _run(repo.root, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "pipeline")
    stems = sorted(p.stem for p in (synthetic_dataset / "images").iterdir())
    add_items(repo.data_dir, [Incoming(s, next((synthetic_dataset / "images").glob(f"{s}.*")),
                                       synthetic_dataset / "masks" / f"{s}.png") for s in stems], binary_schema())
    tag = commit_version(repo).version.tag

    _dvc(repo.root, "repro")
    first = json.loads((repo.root / "artifacts/evaluation/metrics.json").read_text())
    assert first["n_images"] > 0 and "iou/grain" in first
    assert "stages" in yaml.safe_load((repo.root / "dvc.lock").read_text())
    assert "didn't change" in _dvc(repo.root, "repro") or "up to date" in _dvc(repo.root, "status")

    clone = tmp_path / "clone"
    _run(tmp_path, "git", "clone", "-q", "--branch", tag, str(repo.root), str(clone))
    _dvc(clone, "pull", "-q", "data.dvc")
    _dvc(clone, "repro")
    again = json.loads((clone / "artifacts/evaluation/metrics.json").read_text())
    assert again == first
