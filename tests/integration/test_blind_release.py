"""Blind scoring end to end with real git and DVC: `grainloop dataset release TAG --withhold-test-masks`, then
`grainloop score` of the withheld masks submitted as 16-bit instance maps."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from dataset.coco import masks_from_annotations
from dataset.commit import commit_version
from dataset.manifest import read_manifest
from dataset.release import COCO_FILE
from dataset.splits import SplitConfig
from dataset.store import add_items
from foundation.schema import binary_schema
from grainloop.cli import app
from ml.io import read_mask
from tests.helpers import synthetic_items


def test_a_blind_release_of_a_dataset_version_and_its_scoring(repo, tmp_path, synthetic_dataset):
    add_items(repo.data_dir, synthetic_items(synthetic_dataset, {"source": "synthetic"}), binary_schema(),
              SplitConfig(train=0.5, val=0.1, test=0.4))
    tag = commit_version(repo).version.tag
    release, private = tmp_path / "release", tmp_path / "private"
    made = CliRunner().invoke(app, ["dataset", "release", tag, "--repo", str(repo.root), "--out", str(release),
                                    "--withhold-test-masks", str(private)])
    assert made.exit_code == 0, made.output + repr(made.exception)
    test = [r for r in read_manifest(release) if r.split == "test"]
    assert test and not any((release / r.mask).exists() for r in test)
    secret = json.loads((private / COCO_FILE).read_text())
    for image in secret["images"]:  # the private COCO loads back to the private masks
        row = next(r for r in test if r.id == image["grainloop_id"])
        class_map, _ = masks_from_annotations([a for a in secret["annotations"] if a["image_id"] == image["id"]],
                                              (image["height"], image["width"]))
        assert np.array_equal(class_map, read_mask(private / row.mask))

    sub = tmp_path / "submission"
    sub.mkdir()
    for r in test:
        Image.fromarray(read_mask(private / r.instances).astype(np.uint16)).save(sub / f"{r.id}.png")
    args = ["score", "--release", str(release), "--predictions", str(sub), "--out", str(tmp_path / "s.json")]
    blind = CliRunner().invoke(app, args)
    assert blind.exit_code == 1 and "give --private DIR" in blind.output
    scored = CliRunner().invoke(app, [*args, "--private", str(private)])
    assert scored.exit_code == 0, scored.output + repr(scored.exception)
    metrics = json.loads((tmp_path / "s.json").read_text())["metrics"]
    assert metrics["grains/f1"] == metrics["mean_fg_iou"] == 1.0 and metrics["grains/count_error"] == 0
