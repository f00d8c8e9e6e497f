"""Grain types from mean composition: rule files, first match wins, and the whole path from misaligned element
maps through `grainloop register --method multimodal` and `grainloop measure --types` on a field of known phases."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from typer.testing import CliRunner

from grainloop.cli import app
from ml.grain_types import UNCLASSIFIED, classify, load_types, types_from_dict
from ml.synthetic_pairs import ELEMENTS, PHASES, PairConfig, synthetic_pair

ROOT = Path(__file__).resolve().parents[2]
RULE_FILE = ROOT / "schemas" / "grain-types-sand.yaml"  # the example: counts of ml.synthetic_pairs' element maps
RULES = yaml.safe_load(RULE_FILE.read_text())
PHASES_BY_RULE = ["iron-oxide", "plagioclase", "quartz", "lithic"]  # the file's order: first match wins


def test_first_matching_type_wins_and_the_rest_are_unclassified():
    types = types_from_dict({"channels": {"Fe": 2}, "types": [{"name": "a", "min": {"Fe": 5}},
                                                              {"name": "b", "max": {"ch1": 3}}]})
    grains = pd.DataFrame({"mean_ch1": [1.0, 1.0, 9.0, 2.0], "mean_ch2": [6.0, 1.0, 1.0, np.nan],
                           "area_px": [10, 30, 60, 0]})
    typed, table = classify(grains, types)
    assert list(typed["type"]) == ["a", "b", UNCLASSIFIED, "b"]  # a NaN mean meets no threshold
    assert list(table["type"]) == ["a", "b", UNCLASSIFIED] and list(table["grains"]) == [1, 2, 1]
    assert np.allclose(table["area_fraction"], [0.1, 0.3, 0.6]) and np.allclose(table["count_fraction"],
                                                                                   [0.25, 0.5, 0.25])


@pytest.mark.parametrize("rules, message", [
    ({"channels": {"Fe": 0}, "types": [{"name": "a", "min": {"Zr": 1}}]}, r"unknown channel 'Zr'.*valid: Fe, ch0"),
    ({"channels": {"Fe": 0}, "types": [{"name": "a", "above": {"Fe": 1}}]}, r"unknown keys \['above'\].*max"),
    ({"types": [{"name": "a"}, {"name": "a"}]}, "unique"),
    ({"types": []}, "non-empty `types`"),
])
def test_bad_rule_files_say_what_is_valid(rules, message):
    with pytest.raises(ValueError, match=message):
        types_from_dict(rules)


def test_rules_on_grains_without_channel_means_are_refused():
    types = types_from_dict({"types": [{"name": "a", "min": {"ch3": 1}}]})
    with pytest.raises(ValueError, match=r"read \['mean_ch3'\] but the grains have \['mean_ch0'\]"):
        classify(pd.DataFrame({"mean_ch0": [1.0], "area_px": [5]}), types)


def _write_field(folder, seed):
    """A backscatter image, its element maps (counts, one file each, moved by a known transform) and the
    instance map of the backscatter frame."""
    pair = synthetic_pair(seed)
    folder.mkdir()
    tifffile.imwrite(folder / "bse.tif", np.clip(pair.reference * 1000, 0, 65535).astype(np.uint16))
    for name, element in zip(ELEMENTS, pair.moving):
        tifffile.imwrite(folder / f"{name}.tif", np.rint(element * PairConfig().counts).astype(np.uint16))
    return pair


def test_element_maps_registered_then_grains_typed_by_composition(tmp_path):
    pair = _write_field(tmp_path / "raw", seed=21)
    (tmp_path / "stack").mkdir()
    (tmp_path / "masks").mkdir()
    runner = CliRunner()
    moving = [a for e in ELEMENTS for a in ("--moving", str(tmp_path / "raw" / f"{e}.tif"))]
    r = runner.invoke(app, ["register", "--reference", str(tmp_path / "raw" / "bse.tif"), *moving, "--method",
                            "multimodal", "--joint", "--max-angle", "5", "--out", str(tmp_path / "stack" / "f.tif")])
    assert r.exit_code == 0, r.output + repr(r.exception)
    record = json.loads((tmp_path / "stack" / "f.json").read_text())
    t = record["moving"][0]
    assert abs(t["dy"] - pair.truth.dy) < 0.3 and abs(t["dx"] - pair.truth.dx) < 0.3
    assert abs(t["angle_deg"] - pair.truth.angle_deg) < 0.2 and abs(t["scale"] / pair.truth.scale - 1) < 0.005
    assert record["config"]["method"] == "multimodal" and len(record["channels"]) == 5

    ids, labels = np.unique(pair.instance_map, return_inverse=True)  # ids 1..N, so grains.csv keeps them
    phase = np.zeros(len(ids), int)
    phase[labels.ravel()] = pair.class_map.ravel()  # each grain is of one phase
    tifffile.imwrite(tmp_path / "masks" / "f.tif", labels.reshape(pair.instance_map.shape).astype(np.int32))
    out = tmp_path / "measured"
    r = runner.invoke(app, ["measure", "--masks", str(tmp_path / "masks"), "--mask-kind", "instance", "--images",
                            str(tmp_path / "stack"), "--types", str(RULE_FILE), "--out", str(out),
                            "--bootstrap", "0", "--min-area", "1"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert "grain types (count, share of area): iron-oxide" in r.output
    grains = pd.read_csv(out / "grains.csv")
    truth = np.array(PHASES)[phase[grains["grain"]] - 1]
    correct = grains["type"].to_numpy() == truth
    # small grains are diluted by the maps' blur (they may come out unclassified); grains of 80 px and more are
    # typed right, away from the border the element maps moved in from outside the field
    big = (grains.area_px >= 80) & grains.centroid_y_px.between(15, 177) & grains.centroid_x_px.between(15, 177)
    assert big.sum() >= 15 and correct[big].all(), grains.assign(truth=truth)[~correct][["area_px", "type", "truth"]]
    assert correct.mean() >= 0.75
    table = pd.read_csv(out / "types.csv")
    assert list(table["type"]) == [r["name"] for r in RULES["types"]] + [UNCLASSIFIED]
    assert table["grains"].sum() == len(grains) and table["area_fraction"].sum() == pytest.approx(1)
    summary = json.loads((out / "summary.json").read_text())
    pd.testing.assert_frame_equal(pd.DataFrame(summary["grain_types"]["types"]), table, check_dtype=False)
    assert summary["inputs"]["types"]["source"] == str(RULE_FILE) == summary["grain_types"]["rules"]
    assert load_types(RULE_FILE).names == [*PHASES_BY_RULE, UNCLASSIFIED]


def test_types_need_images(tmp_path):
    (tmp_path / "masks").mkdir()
    r = CliRunner().invoke(app, ["measure", "--masks", str(tmp_path / "masks"), "--types", str(RULE_FILE),
                                 "--out", str(tmp_path / "m")])
    assert r.exit_code != 0 and "--types needs --images" in r.output
