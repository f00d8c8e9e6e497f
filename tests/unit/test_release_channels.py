"""A release of a dataset with several detector channels carries every channel's files, named in its card."""
import json
from dataclasses import replace

from dataset.card import CROISSANT_FILE
from dataset.croissant import validate
from dataset.manifest import read_manifest
from dataset.release import ReleaseInfo, write_release
from dataset.store import add_items
from foundation.schema import binary_schema
from ml.synthetic import SyntheticConfig, write_dataset
from tests.helpers import synthetic_items


def test_a_release_copies_the_further_channels(tmp_path):
    write_dataset(tmp_path / "se", 3, SyntheticConfig(height=64, width=64), seed=1)
    write_dataset(tmp_path / "bse", 3, SyntheticConfig(height=64, width=64), seed=2)
    items = [replace(i, channels=(tmp_path / "bse" / "images" / i.image.name,))
             for i in synthetic_items(tmp_path / "se", {"source": "test"})]
    data = tmp_path / "data"
    assert len(add_items(data, items, binary_schema()).added) == 3
    card = write_release(data, tmp_path / "release", ReleaseInfo("dataset-v1", "md5", "sha"))
    rows = read_manifest(data)
    assert all(r.channels for r in rows)
    for row in rows:
        assert (card.parent / row.channels[0]).read_bytes() == (data / row.channels[0]).read_bytes()
    assert "`channels/cK/`" in card.read_text()
    files = {d["name"]: d for d in json.loads((card.parent / CROISSANT_FILE).read_text())["distribution"]}
    assert files["channel-files"]["includes"] == "channels/*/*"
    assert validate(card.parent / CROISSANT_FILE) == []
