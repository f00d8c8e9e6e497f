"""`grainloop measure --dataset TAG`: a dataset version checked out from a real git + DVC repository and measured."""
import json

import pandas as pd
from typer.testing import CliRunner

from dataset.commit import commit_version
from dataset.manifest import read_manifest
from dataset.store import add_items
from foundation.schema import binary_schema
from grainloop.cli import app
from tests.helpers import synthetic_items


def test_measure_a_dataset_version_and_one_split(repo, synthetic_dataset, tmp_path):
    items = synthetic_items(synthetic_dataset, {"source": "synthetic"})
    add_items(repo.data_dir, items[:6], binary_schema())
    assert commit_version(repo).version.tag == "dataset-v1"
    add_items(repo.data_dir, items, binary_schema())  # the working copy moves on: the version is what counts
    out, runner = tmp_path / "m", CliRunner()
    args = ["measure", "--dataset", "dataset-v1", "--repo", str(repo.root), "--data", repo.data, "--bootstrap", "50"]
    r = runner.invoke(app, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output + repr(r.exception)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 6 and summary["inputs"]["source"].startswith("dataset version dataset-v1")
    assert summary["grains_found"] == summary["grains_measured"] + summary["grains_dropped"] > 0
    v1_ids = {i.id for i in items[:6]}
    images = pd.read_csv(out / "images.csv")
    assert set(images.image) == v1_ids
    split = {r.id: r.split for r in read_manifest(repo.data_dir) if r.id in v1_ids}  # splits are frozen
    train = runner.invoke(app, [*args, "--dataset-split", "train", "--out", str(tmp_path / "t")])
    assert train.exit_code == 0, train.output
    assert set(pd.read_csv(tmp_path / "t" / "images.csv").image) == {i for i, s in split.items() if s == "train"}
    unknown = runner.invoke(app, ["measure", "--dataset", "dataset-v9", "--repo", str(repo.root), "--out", str(out)])
    assert unknown.exit_code == 2 and "dataset-v1" in unknown.output
