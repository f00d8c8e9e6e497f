"""Several detector channels in the loop: the first folder is annotated, the others (same relative paths) go into
the dataset version as channels/cK/ and into the model's input, for training and for pre-annotation."""
from __future__ import annotations

import numpy as np
from PIL import Image

from dataset.samples import attach_channels, channel_files
from dataset.spec import dataset_spec
from dataset.store import Incoming, add_items
from dataset.validate import validate
from foundation.schema import binary_schema


def _png(path, value, shape=(24, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)
    return path


def test_channels_travel_with_the_image_into_the_dataset_version(tmp_path):
    se, bse = tmp_path / "se", tmp_path / "bse"
    mask = np.zeros((24, 32), np.uint8)
    mask[4:12, 4:12] = 1
    items = []
    for name in ("a", "b"):
        _png(se / "lot1" / f"{name}.png", 50 if name == "a" else 90)
        _png(bse / "lot1" / f"{name}.{'png' if name == 'a' else 'tif'}", 200)  # any image suffix matches
        Image.fromarray(mask).save(tmp_path / f"{name}-mask.png")
        items.append(Incoming(name, se / "lot1" / f"{name}.png", tmp_path / f"{name}-mask.png",
                              provenance={"source": f"lot1/{name}.png"}))
    _png(se / "lot1" / "lonely.png", 10)  # no file in the second channel
    items.append(Incoming("lonely", se / "lot1" / "lonely.png", tmp_path / "a-mask.png"))

    assert channel_files(se / "lot1" / "a.png", se, [bse]) == (bse / "lot1" / "a.png",)
    attached = attach_channels(items, se, [bse])
    assert [i.refused for i in attached][:2] == ["", ""] and "every channel folder" in attached[2].refused

    data = tmp_path / "data"
    report = add_items(data, attached, binary_schema())
    assert report.added == ["a", "b"] and [s[0] for s in report.skipped] == ["lonely"]
    rows = validate(data, binary_schema())
    assert [r.channels for r in rows] == [("channels/c1/a.png",), ("channels/c1/b.tif",)]
    assert (data / "channels" / "c1" / "a.png").is_file()
    spec = dataset_spec(data)
    assert spec.images == [data / "images", data / "channels" / "c1"]  # the model sees both as input channels


def test_a_channel_of_another_size_is_refused(tmp_path):
    image, other = _png(tmp_path / "se" / "a.png", 5), _png(tmp_path / "bse" / "a.png", 5, shape=(10, 10))
    mask = tmp_path / "m.png"
    Image.fromarray(np.ones((24, 32), np.uint8)).save(mask)
    report = add_items(tmp_path / "data", [Incoming("a", image, mask, channels=(other,))], binary_schema())
    assert report.added == [] and "differ in size" in report.skipped[0][1]
