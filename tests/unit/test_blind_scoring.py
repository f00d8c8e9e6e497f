"""Blind scoring (issue 17, item 3): a release that withholds its test masks, and `grainloop score` of an outside
submission against them."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dataset.leaderboard import LEADERBOARD, read_leaderboard
from dataset.manifest import read_manifest
from dataset.release import COCO_FILE, ReleaseInfo, write_release
from dataset.score import ScoreConfig, SubmissionError, score_submission
from dataset.splits import SplitConfig
from dataset.store import add_items
from foundation.schema import binary_schema
from grainloop.cli import app
from ml.grain_eval import instance_grain_metrics
from ml.io import read_mask, write_mask
from PIL import Image
from ml.metrics import SegmentationMetrics
from ml.targets import IGNORE_INDEX
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


def _test_rows(release):
    return [r for r in read_manifest(release) if r.split == "test"]


def _submit(folder, arrays):
    """PNGs of the given bit depth (write_mask would write < 256 grains as 8 bits)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        Image.fromarray(arr).save(folder / f"{name}.png")
    return folder


def _own_masks(blind, folder, kind):
    """A submission made of the release's own test masks: instance maps as 16-bit, or class maps as 8-bit."""
    _, _, private = blind
    return _submit(folder, {r.id: read_mask(private / (r.instances if kind == "instance" else r.mask)).astype(
        np.uint16 if kind == "instance" else np.uint8) for r in _test_rows(blind[1])})


def _internal(blind):
    """The same test masks scored against themselves inside grainloop (the metrics promotion uses)."""
    _, release, private = blind
    truths = {r.id: read_mask(private / r.mask) for r in _test_rows(release)}
    pixels = SegmentationMetrics(2, ["background", "grain"], ignore_index=IGNORE_INDEX)
    for image_id, truth in truths.items():
        pixels.update(truth, truth, image_id)
    instances = {r.id: read_mask(private / r.instances) for r in _test_rows(release)}
    return pixels.compute(), instance_grain_metrics(instances, instances)


def test_a_blind_submission_of_the_test_masks_scores_as_they_do_internally(blind, tmp_path):
    _, release, private = blind
    pixels, grains = _internal(blind)
    found = score_submission(ScoreConfig(release, _own_masks(blind, tmp_path / "inst", "instance"), private))
    assert found["kind"] == "instance" and found["images"] == len(_test_rows(release))
    assert {k: found["metrics"][k] for k in grains} == pytest.approx(grains, nan_ok=True)
    assert {k: found["metrics"][k] for k in pixels} == pytest.approx(pixels, nan_ok=True)
    assert found["metrics"]["grains/f1"] == found["metrics"]["grains/pq"] == found["metrics"]["mean_fg_iou"] == 1.0
    assert found["metrics"]["grains/count_error"] == 0 and found["metrics"]["size_distribution_error"] == 0
    classes = score_submission(ScoreConfig(release, _own_masks(blind, tmp_path / "cls", "class"), private))
    assert classes["kind"] == "class" and "grains/f1" not in classes["metrics"]
    assert {k: classes["metrics"][k] for k in pixels} == pytest.approx(pixels, nan_ok=True)


def test_a_degraded_submission_scores_lower(blind, tmp_path):
    _, release, private = blind
    degraded = {}
    for r in _test_rows(release):
        inst = read_mask(private / r.instances).astype(np.uint16)
        inst[inst % 2 == 1] = 0  # half of the grains missed
        inst[:, : inst.shape[1] // 4] = 0  # and a quarter of the field
        degraded[r.id] = inst
    found = score_submission(ScoreConfig(release, _submit(tmp_path / "bad", degraded), private))["metrics"]
    assert found["grains/f1"] < 0.8 and found["mean_fg_iou"] < 0.8 and found["grains/count_error"] < 0


def test_missing_mis_sized_unknown_and_mixed_predictions_are_listed(blind, tmp_path):
    _, release, private = blind
    rows = _test_rows(release)
    folder = _own_masks(blind, tmp_path / "sub", "instance")
    (folder / f"{rows[0].id}.png").unlink()
    _submit(folder, {rows[1].id: np.zeros((10, 12), np.uint16), "stranger": np.zeros((64, 80), np.uint16)})
    with pytest.raises(SubmissionError) as err:
        score_submission(ScoreConfig(release, folder, private))
    text = str(err.value)
    assert f"missing prediction(s): ['{rows[0].id}.png']" in text
    assert f"mis-sized {rows[1].id}.png: expected (64, 80), got (10, 12)" in text
    assert "unknown file(s)" in text and "stranger.png" in text
    mixed = _submit(_own_masks(blind, tmp_path / "mixed", "instance"), {rows[0].id: np.zeros((64, 80), np.uint8)})
    with pytest.raises(SubmissionError, match="all be 16-bit instance maps or all 8-bit class maps"):
        score_submission(ScoreConfig(release, mixed, private))


def test_an_8_bit_instance_map_is_scored_as_one_when_told(blind, tmp_path):
    _, release, private = blind
    folder = tmp_path / "eight"
    folder.mkdir()
    for r in _test_rows(release):
        write_mask(folder / f"{r.id}.png", read_mask(private / r.instances))  # < 256 grains: written as 8 bits
    with pytest.raises(SubmissionError, match="an instance map must be 16-bit, or give the kind"):
        score_submission(ScoreConfig(release, folder, private))
    assert score_submission(ScoreConfig(release, folder, private, "instance"))["metrics"]["grains/f1"] == 1.0
    with pytest.raises(SubmissionError, match="valid: .'auto', 'instance', 'class'."):
        ScoreConfig(release, folder, private, "grains")


def test_withheld_masks_need_the_private_folder(blind, tmp_path):
    _, release, _ = blind
    with pytest.raises(SubmissionError, match="give --private DIR"):
        score_submission(ScoreConfig(release, _own_masks(blind, tmp_path / "s", "instance")))


def test_the_score_command_writes_json_and_prints_a_table(blind, tmp_path):
    _, release, private = blind
    sub, out = _own_masks(blind, tmp_path / "s", "instance"), tmp_path / "score.json"
    args = ["score", "--release", str(release), "--predictions", str(sub), "--private", str(private)]
    r = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert "instance maps" in r.output and "grains/f1" in r.output
    assert json.loads(out.read_text())["metrics"]["grains/f1"] == 1.0
    (sub / "extra.png").write_bytes(b"not a png")
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 1 and "unknown file(s)" in bad.output and "extra.png" in bad.output


def test_an_outside_entry_goes_on_the_leaderboard_once(blind, tmp_path):
    _, release, private = blind
    sub = _own_masks(blind, tmp_path / "s", "instance")
    args = ["score", "--release", str(release), "--predictions", str(sub), "--private", str(private),
            "--name", "lab-x", "--out", str(tmp_path / "a.json")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output + repr(first.exception)
    board = read_leaderboard(release)
    assert [(r["entry"], r["source"], r["kind"], float(r["grains/f1"])) for r in board] == [
        ("lab-x", "outside", "instance", 1.0)]
    again = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "b.json")])
    assert again.exit_code == 0 and "(reused)" in again.output and not (tmp_path / "b.json").exists()
    assert read_leaderboard(release) == board
    write_mask(sub / f"{_test_rows(release)[0].id}.png", np.zeros((64, 80), np.uint16) + 1)
    other = CliRunner().invoke(app, args)
    assert other.exit_code == 1 and "already on" in other.output and "lab-x" in other.output
    (release / LEADERBOARD).unlink()
