"""The SEM-field preset of the synthetic generator (ml.synthetic.sem_field) and the demo's use of it: sample
images with a test-split image among the first ones, edit cost per cycle, the first cycle's smaller batch."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from ml.synthetic import SyntheticConfig, generate, image_seed, sem_field


@pytest.fixture(scope="module")
def fields():
    return [generate(sem_field(384), image_seed(0, i)) for i in range(4)]


def test_fields_hold_dozens_to_hundreds_of_touching_grains(fields):
    for s in fields:
        assert s.image.shape == (384, 384)
        assert 30 <= s.meta["n_grains"] <= 300
        inst = s.instance_map
        touching = (inst[1:] != inst[:-1]) & (inst[1:] > 0) & (inst[:-1] > 0)
        assert touching.sum() > 100  # many grain-grain contacts


def test_sizes_are_dispersed(fields):
    areas = np.concatenate([np.bincount(s.instance_map.ravel())[1:] for s in fields])
    areas = areas[areas > 0]
    d10, d50, d90 = np.percentile(np.sqrt(areas), [10, 50, 90])
    assert d50 < 25 and d90 / d10 > 3  # small grains, a wide (log-normal) spread


def test_every_image_has_its_own_look(fields):
    substrate = []
    for s in fields:
        bg = s.class_map == 0
        bg[s.banner.y0:] = False
        substrate.append(s.image[bg].mean())
    assert np.ptp(substrate) > 40  # substrate (and grain) levels differ from image to image


def test_preset_is_deterministic_and_changes_apply():
    a, b = generate(sem_field(128), 5), generate(sem_field(128), 5)
    np.testing.assert_array_equal(a.image, b.image)
    assert sem_field(128, charging=0.0).charging == 0.0
    with pytest.raises(ValueError, match="size_sigma"):
        SyntheticConfig(charging=-1)


def test_sample_data_puts_a_test_image_among_the_first(tmp_path):
    from dataset.manifest import sha256_file
    from dataset.splits import split_for
    from grainloop.demo import sample_data

    images, masks, held = sample_data(tmp_path, 12, 64, 0, heldout=2, first=2)  # seed 0: syn_0010 is the 1st test
    names = sorted(p.name for p in images.glob("*.tif"))
    assert "test" in [split_for(sha256_file(images / n)) for n in names[:2]]
    manifest = json.loads((tmp_path / "sample" / "manifest.json").read_text())
    for e in manifest["images"]:  # entries follow their files
        assert json.loads(tifffile.TiffFile(tmp_path / "sample" / e["image"]).pages[0]
                          .description)["seed"] == e["seed"]
    assert len(list((held / "images").glob("*.tif"))) == 2 and held != images.parent


def test_edit_cost_is_the_mean_over_the_synced_images_that_started_from_a_pre_annotation():
    from dataset.rows import edit_cost
    from dataset.store import Incoming

    item = lambda i, c: Incoming(i, Path(), None, provenance={"edit_cost": c})
    items = [item("a", 0.9), item("c", 0.2), item("d", 0.4), item("e", None)]
    assert edit_cost(items, []) == (None, 0)  # nothing synced
    assert edit_cost(items, ["c", "d", "e"]) == (pytest.approx(0.3), 2)  # "a" was not synced this time

def test_first_cycle_labels_its_own_count():
    from flows.demo import DemoConfig

    cfg = DemoConfig(Path("x"), Path("i"), Path("m"), None, per_cycle=8, first=4)
    assert [cfg.to_label(k) for k in (1, 2, 3)] == [4, 8, 8]
    assert DemoConfig(Path("x"), Path("i"), Path("m"), None, per_cycle=6).to_label(1) == 6
