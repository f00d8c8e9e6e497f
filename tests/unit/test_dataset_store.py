"""The dataset folder without DVC: manifest, frozen splits, adding and validating, COCO round trip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from foundation.schema import binary_schema
from dataset.coco import image_annotations, masks_from_annotations
from dataset.manifest import read_manifest, write_manifest
from dataset.splits import SplitConfig, assign, split_for
from dataset.store import Incoming, add_items
from dataset.validate import DatasetInvalid, validate
from ml.io import read_mask, write_mask
from tests.helpers import synthetic_items

SCHEMA = binary_schema()


def _items(folder: Path) -> list[Incoming]:
    return synthetic_items(folder, {"source": "synthetic", "annotators": ["a@x", "b@x"], "ls_task_id": 7})


def test_split_hash_is_stable_and_roughly_proportional():
    counts = {"train": 0, "val": 0, "test": 0}
    for i in range(3000):
        counts[split_for(f"g{i}")] += 1
    assert split_for("g1") == split_for("g1")
    assert abs(counts["test"] / 3000 - 0.15) < 0.03 and abs(counts["train"] / 3000 - 0.7) < 0.03
    assert assign("g1", {"g1": "val"}) == "val"  # frozen wins over the hash
    with pytest.raises(ValueError, match="sum to 1"):
        SplitConfig(0.5, 0.2, 0.2)


def test_add_then_add_more_keeps_every_split_and_only_grows(tmp_path, synthetic_dataset):
    data = tmp_path / "data"
    first = _items(synthetic_dataset)[:8]
    report = add_items(data, first, SCHEMA)
    assert len(report.added) == 8 and not report.skipped
    before = {r.id: r.split for r in read_manifest(data)}
    report = add_items(data, _items(synthetic_dataset), SCHEMA)
    assert len(report.added) == 4 and len(report.unchanged) == 8
    after = {r.id: r.split for r in read_manifest(data)}
    assert {k: after[k] for k in before} == before
    rows = validate(data, SCHEMA)
    assert len(rows) == 12 and rows[0].annotators == ("a@x", "b@x") and rows[0].ls_task_id == 7


def test_rerun_is_idempotent_and_changed_mask_updates(tmp_path, synthetic_dataset):
    data = tmp_path / "data"
    items = _items(synthetic_dataset)[:3]
    add_items(data, items, SCHEMA)
    text = (data / "manifest.csv").read_text()
    assert not add_items(data, items, SCHEMA).changed and (data / "manifest.csv").read_text() == text
    inst = read_mask(items[0].instances)
    inst[:5, :5] = inst.max() + 1
    write_mask(tmp_path / "edited.png", inst)
    report = add_items(data, [Incoming(items[0].id, items[0].image, None, tmp_path / "edited.png")], SCHEMA)
    assert report.updated == [items[0].id]
    assert (np.array(Image.open(data / "instances" / f"{items[0].id}.png"))[:5, :5] > 0).all()


def test_bad_input_is_skipped_with_reasons_and_loses_nothing(tmp_path, synthetic_dataset):
    good = _items(synthetic_dataset)[0]
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    empty = tmp_path / "empty.png"
    write_mask(empty, np.zeros(read_mask(good.instances).shape, np.uint8))
    unknown = tmp_path / "unknown.png"
    write_mask(unknown, np.full(read_mask(good.instances).shape, 5, np.uint8))
    items = [good, Incoming("corrupt", tmp_path / "corrupt.png", good.instances),
             Incoming("empty", good.image, empty), Incoming("unknown", good.image, unknown),
             Incoming("copy", good.image, None, good.instances)]
    report = add_items(tmp_path / "data", items, SCHEMA)
    reasons = dict(report.skipped)
    assert report.added == [good.id] and set(reasons) == {"corrupt", "empty", "unknown", "copy"}
    assert "cannot read" in reasons["corrupt"] and "empty mask" in reasons["empty"]
    assert "[5]" in reasons["unknown"] and good.id in reasons["copy"]


def test_validate_lists_every_problem(tmp_path, synthetic_dataset):
    data = tmp_path / "data"
    add_items(data, _items(synthetic_dataset)[:4], SCHEMA)
    rows = read_manifest(data)
    write_manifest(data, [rows[0], rows[1], rows[1].__class__(**{**rows[1].__dict__, "id": "dup", "split": "test"})] +
                   rows[2:])
    write_mask(data / rows[2].mask, np.full((4, 4), 9, np.uint8))
    (data / "images" / "stray.png").write_bytes(b"x")
    with pytest.raises(DatasetInvalid) as err:
        validate(data, SCHEMA)
    text = str(err.value)
    assert "appears 2 times" in text and "several splits" in text and "stray.png" in text
    assert rows[2].mask in text and len(err.value.problems) >= 4


def test_schema_mismatch_is_refused(tmp_path, synthetic_dataset):
    add_items(tmp_path / "data", _items(synthetic_dataset)[:1], SCHEMA)
    with pytest.raises(ValueError, match="another schema"):
        add_items(tmp_path / "data", _items(synthetic_dataset)[1:2], binary_schema(boundary=True))


@pytest.mark.parametrize("seed", range(4))
def test_coco_polygons_and_rle_give_the_masks_back(seed):
    rng = np.random.default_rng(seed)
    class_map = (rng.random((40, 52)) > 0.55).astype(np.uint8) * rng.integers(1, 3, (40, 52)).astype(np.uint8)
    class_map[10:20, 10:20] = 1
    class_map[14:16, 14:16] = 0  # a grain with a hole: RLE
    anns = image_annotations(class_map, None, 1, 1)
    back, inst = masks_from_annotations(anns, class_map.shape)
    assert np.array_equal(back, class_map)
    assert any(isinstance(a["segmentation"], dict) for a in anns)
    assert any(isinstance(a["segmentation"], list) for a in anns)
    assert len(np.unique(inst)) - 1 == len(anns)


def test_dataset_import_waits_for_the_workspace_lock(tmp_path, synthetic_dataset):
    """`grainloop dataset import` and the loop's sync write data/ under the one workspace lock."""
    import subprocess
    import sys

    from typer.testing import CliRunner

    from grainloop.cli import app

    released = tmp_path / "released"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from dataset.lock import workspace_lock\n"
        f"with workspace_lock(Path({str(tmp_path)!r})):\n"
        "    print('held', flush=True); time.sleep(2)\n"
        f"    Path({str(released)!r}).touch()\n")], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2])
    assert holder.stdout.readline().strip() == "held"
    done = CliRunner().invoke(app, ["dataset", "import", "--repo", str(tmp_path), "--images",
                                    str(synthetic_dataset / "images"), "--masks", str(synthetic_dataset / "masks")])
    assert done.exit_code == 0, done.output
    assert released.exists()  # the import ran only once the other writer had finished
    assert holder.wait(timeout=30) == 0
    assert len(read_manifest(tmp_path / "data")) == len(list((synthetic_dataset / "images").iterdir()))
