"""`grainloop measure`: grain tables, summaries, outlines and plots from masks or a model; count in = count out."""
import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from typer.testing import CliRunner

from grainloop.cli import app
from ml.io import list_images
from ml.measure import MeasureSpec
from tests.helpers import random_model_file

runner = CliRunner()


def true_grain_count(folder) -> int:
    return sum(len(np.unique(tifffile.imread(p))) - 1 for p in list_images(folder))


def invoke(*args: str):
    r = runner.invoke(app, ["measure", *args])
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def test_instance_masks_with_images(synthetic_dataset, tmp_path):
    d, out = synthetic_dataset, tmp_path / "m"
    invoke("--masks", str(d / "instances"), "--mask-kind", "instance", "--images", str(d / "images"),
           "--out", str(out), "--min-area", "30")
    summary = json.loads((out / "summary.json").read_text())
    grains, dropped = pd.read_csv(out / "grains.csv"), pd.read_csv(out / "dropped.csv")
    n = true_grain_count(d / "instances")
    assert summary["grains_found"] == n == len(grains) + len(dropped) and len(dropped) > 0
    assert (dropped.area_px < 30).all() and dropped.reason.str.contains("below min area").all()
    assert summary["units"] == "um" and summary["pixel_sizes"] == ["0.5 (tiff XResolution (centimetre))"]
    assert summary["inputs"]["instances"]["min_area"] == 30 and summary["tool"] == "grainloop measure"
    assert np.allclose(grains.ecd_um, grains.ecd_px * 0.5) and "mean_ch0" in grains
    assert grains.cut_by_edge.any() and summary["distribution"]["all"]["n"] == (~grains.cut_by_edge).sum()
    parquet = pd.read_parquet(out / "grains.parquet")
    assert list(parquet.columns) == list(grains.columns) and np.allclose(parquet.ecd_px, grains.ecd_px)
    images = pd.read_csv(out / "images.csv")
    assert len(images) == 12 and images.measured.sum() == len(grains) and images.dropped.sum() == len(dropped)
    features = json.loads((out / "outlines.geojson").read_text())["features"]
    assert len(features) == len(grains) and "polygon_um" in features[0]["properties"]
    assert {p.name for p in (out / "plots").iterdir()} == {"size_histogram.png", "size_cumulative.png",
                                                            "distribution_all.png"}
    iso = summary["iso9276"]
    assert iso["edge_correction"] == "miles-lantuejoul" and "sphere" in iso["volume"]
    assert iso["edge_weights"]["max_weight"] == grains.edge_weight.max()
    number = iso["classes"]["all"]["weightings"]["number"]
    lo, hi = iso["classes"]["all"]["intervals"]["images"]["number"]["d50"]
    assert lo <= number["d50"] <= hi and iso["classes"]["all"]["n"] == (~grains.cut_by_edge).sum()
    assert (grains.edge_weight[grains.cut_by_edge] == 0).all() and (grains.edge_weight[~grains.cut_by_edge] >= 1).all()
    table = pd.read_csv(out / "distribution.csv")
    assert set(table.weighting) == {"number", "area", "volume"}
    assert set(table.statistic) == {"d10", "d50", "d90", "span"}
    assert set(pd.read_csv(out / "moments.csv")["mean"]) == {"D[1,0]", "D[2,0]", "D[3,0]", "D[3,2]", "D[4,3]"}
    e112 = pd.read_csv(out / "astm_e112.csv")  # scattered grains on a substrate: no grain size number
    assert len(e112) == 12 and not e112.space_filling.any() and summary["astm_e112"]["g_planimetric"] is None
    assert "not space-filling" in summary["astm_e112"]["reason"]


def test_class_masks_split_by_watershed_with_user_pixel_size(synthetic_dataset, tmp_path):
    out = tmp_path / "m"
    invoke("--masks", str(synthetic_dataset / "masks"), "--pixel-size", "0.2", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pixel_sizes"] == ["0.2 (user)"] and summary["inputs"]["instances"]["method"] == "auto"
    grains = pd.read_csv(out / "grains.csv")
    assert summary["grains_found"] == len(grains) + summary["grains_dropped"]
    assert len(grains) > 12 * 5 and not any(c.startswith("mean_ch") for c in grains)  # no images: no intensities
    invoke("--masks", str(synthetic_dataset / "masks"), "--out", str(tmp_path / "h"), "--split-h", "6")
    merged = json.loads((tmp_path / "h" / "summary.json").read_text())
    assert merged["inputs"]["instances"]["h"] == 6 and merged["grains_found"] < summary["grains_found"]


def test_unknown_pixel_size_is_said_and_sizes_stay_in_pixels(synthetic_dataset, tmp_path):
    out = tmp_path / "m"
    invoke("--masks", str(synthetic_dataset / "masks"), "--out", str(out), "--split", "components")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["units"] == "px" and summary["size_column"] == "ecd_px"
    assert "unknown" in summary["pixel_size_note"] and "unknown" in summary["pixel_sizes"][0]
    columns = pd.read_csv(out / "grains.csv").columns
    assert not [c for c in columns if c.endswith(("_um", "_um2")) and c != "pixel_size_um"]


def test_model_predictions_are_measured(synthetic_dataset, tmp_path):
    random_model_file(tmp_path / "model.pt", decoder=(16, 8, 8, 8, 8))
    out = tmp_path / "m"
    invoke("--images", str(synthetic_dataset / "images"), "--model", str(tmp_path / "model.pt"), "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 12 and summary["inputs"]["model"].endswith("model.pt")
    assert summary["grains_found"] == summary["grains_measured"] + summary["grains_dropped"]


def test_edge_correction_off_and_bootstrap_count(synthetic_dataset, tmp_path):
    out = tmp_path / "m"
    invoke("--masks", str(synthetic_dataset / "instances"), "--mask-kind", "instance", "--out", str(out),
           "--no-edge-correction", "--bootstrap", "50", "--bootstrap-seed", "7")
    iso = json.loads((out / "summary.json").read_text())["iso9276"]
    assert iso["edge_correction"].startswith("none") and iso["bootstrap"]["replicates"] == 50
    assert iso["edge_weights"] is None
    assert iso["bootstrap"]["seed"] == 7
    r = runner.invoke(app, ["measure", "--masks", str(synthetic_dataset / "masks"), "--out", str(out), "--include-cut"])
    assert r.exit_code != 0 and "--no-edge-correction" in r.output


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="either --masks"):
        MeasureSpec()
    with pytest.raises(ValueError, match="needs --images"):
        MeasureSpec(model="m.pt")
    with pytest.raises(ValueError, match="class, instance"):
        MeasureSpec(masks="m", mask_kind="panoptic")
