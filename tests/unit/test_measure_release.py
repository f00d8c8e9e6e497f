"""`grainloop measure --release`: the labelled images of a release folder, with its manifest's pixel sizes."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from dataset.manifest import read_manifest
from dataset.measure_folder import FolderError, folder_samples
from dataset.release import ReleaseInfo, write_release
from dataset.store import add_items
from foundation.schema import binary_schema
from grainloop.cli import app
from ml.synthetic import SyntheticConfig, write_dataset
from tests.helpers import synthetic_items


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("release")
    write_dataset(tmp / "syn", 4, SyntheticConfig(height=96, width=96), seed=2)
    data = tmp / "data"
    add_items(data, synthetic_items(tmp / "syn", {"source": "test"}), binary_schema())
    return write_release(data, tmp / "release", ReleaseInfo("dataset-v1", "md5", "sha")).parent


def test_release_samples_and_split(release):
    rows = read_manifest(release)
    samples = folder_samples(release)
    assert len(samples) == len(rows) == 4
    assert all(s.files.mask.exists() and s.files.images[0].exists() for s in samples)
    assert {s.mask_kind for s in samples} == {"instance" if rows[0].instances else "class"}
    split = rows[0].split
    assert {s.files.id for s in folder_samples(release, split)} == {r.id for r in rows if r.split == split}
    with pytest.raises(FolderError, match="train, val, test"):
        folder_samples(release, "dev")
    with pytest.raises(FolderError, match="no manifest.csv"):
        folder_samples(release / "images")


def test_measure_a_release(release, tmp_path):
    out = tmp_path / "m"
    r = CliRunner().invoke(app, ["measure", "--release", str(release), "--out", str(out), "--bootstrap", "100"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 4 and summary["inputs"]["source"] == f"release {release}"
    assert summary["grains_found"] == summary["grains_measured"] + summary["grains_dropped"] > 0
    assert "iso9276" in summary and (out / "distribution.csv").exists()
    assert set(pd.read_csv(out / "images.csv").image) == {row.id for row in read_manifest(release)}
    both = CliRunner().invoke(app, ["measure", "--release", str(release), "--dataset", "dataset-v1", "--out",
                                    str(out)])
    assert both.exit_code != 0 and "not both" in both.output
