"""Blind scoring (issue 17, item 3): a release that withholds its test masks, and `grainloop score` of an outside
submission against them."""
import json

import pytest

from dataset.manifest import read_manifest
from dataset.release import COCO_FILE, ReleaseInfo, write_release
from dataset.splits import SplitConfig
from dataset.store import add_items
from foundation.schema import binary_schema
from ml.synthetic import SyntheticConfig, write_dataset
from tests.helpers import synthetic_items


@pytest.fixture(scope="module")
def blind(tmp_path_factory):
    """(data folder, public release folder, private folder) of 8 synthetic images, a few of them in test."""
    tmp = tmp_path_factory.mktemp("blind")
    write_dataset(tmp / "syn", 8, SyntheticConfig(height=64, width=80), seed=3)
    data = tmp / "data"
    add_items(data, synthetic_items(tmp / "syn", {"source": "test"}), binary_schema(),
              SplitConfig(train=0.4, val=0.2, test=0.4))
    card = write_release(data, tmp / "release", ReleaseInfo("dataset-v1", "md5", "sha"),
                         withhold_test_masks=tmp / "private")
    return data, card.parent, tmp / "private"


def test_the_test_masks_go_to_the_private_folder(blind):
    data, release, private = blind
    rows = read_manifest(release)
    test = [r for r in rows if r.split == "test"]
    assert test and len(test) < len(rows)
    assert (release / "splits" / "test.txt").read_text().split() == [r.id for r in test]
    for row in rows:
        assert (release / row.image).exists()
        hidden = row.split == "test"
        for rel in (row.mask, row.instances):
            assert (release / rel).exists() != hidden
            assert (private / rel).exists() == hidden
            if hidden:
                assert (private / rel).read_bytes() == (data / rel).read_bytes()
    public, secret = (json.loads((folder / COCO_FILE).read_text()) for folder in (release, private))
    test_ids = {im["id"] for im in public["images"] if im["split"] == "test"}
    assert len(public["images"]) == len(rows) and len(secret["images"]) == len(test)
    assert not any(a["image_id"] in test_ids for a in public["annotations"])
    assert secret["annotations"] and all(a["image_id"] in test_ids for a in secret["annotations"])
    info = json.loads((release / "release.json").read_text())
    assert info["withheld_test_masks"] is True
    assert len(public["annotations"]) + len(secret["annotations"]) == info["grains"]
    assert "withheld" in (release / "README.md").read_text()


def test_the_private_folder_must_lie_outside_the_release(blind, tmp_path):
    data, _, _ = blind
    with pytest.raises(ValueError, match="outside the release"):
        write_release(data, tmp_path / "r", ReleaseInfo("dataset-v1"), withhold_test_masks=tmp_path / "r" / "p")
