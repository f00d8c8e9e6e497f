"""`grainloop simulate` on the synthetic dataset: campaigns per strategy, the full reference, CSVs and the plot."""
import csv

import pytest
import torch
from typer.testing import CliRunner

from grainloop.cli import app
from ml.data import split_of
from ml.simulate import SimulateConfig, images_to_reach
from ml.train import resolve_device

INITIAL, BATCH, ROUNDS, TEST_FRACTION = 2, 2, 2, 0.25
TINY = ["--epochs", "1", "--patch", "64", "--patches-per-epoch", "8", "--batch-size", "4",
        "--decoder-channels", "32,16,16,8,8", "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def simulated(synthetic_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("simulate")
    d = synthetic_dataset
    args = ["simulate", "--images", str(d / "images"), "--masks", str(d / "masks"), "--out", str(out),
            "--strategy", "random", "--strategy", "kcenter", "--initial", str(INITIAL), "--batch", str(BATCH),
            "--rounds", str(ROUNDS), "--test-fraction", str(TEST_FRACTION), "--seed", "1", *TINY]
    threads = torch.get_num_threads()
    result = CliRunner().invoke(app, args)
    torch.set_num_threads(threads)  # --threads is process-wide; later tests keep theirs
    assert result.exit_code == 0, result.output
    return out, result.output, sorted(p.stem for p in (d / "images").iterdir())


def _read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_rows_per_strategy_round_and_the_full_reference(simulated):
    out, output, ids = simulated
    rows = _read(out / "simulate.csv")
    assert list(rows[0]) == ["strategy", "round", "n_labeled", "iou", "mean_iou", "seconds"]
    pool = [i for i in ids if split_of(i, TEST_FRACTION) != "val"]
    for strategy in ("random", "kcenter"):
        mine = [r for r in rows if r["strategy"] == strategy]
        assert [int(r["round"]) for r in mine] == list(range(ROUNDS + 1))
        assert [int(r["n_labeled"]) for r in mine] == [INITIAL + BATCH * r for r in range(ROUNDS + 1)]
    full = [r for r in rows if r["strategy"] == "full"]
    assert len(full) == 1 and int(full[0]["n_labeled"]) == len(pool)
    assert all(0 <= float(r["iou"]) <= 1 and 0 <= float(r["mean_iou"]) <= 1 for r in rows)
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "labeled images to reach 95%" in output and not list(out.glob(".round-*"))


def test_same_start_growing_sets_and_no_test_image_ever_labeled(simulated):
    out, _, ids = simulated
    test = {i for i in ids if split_of(i, TEST_FRACTION) == "val"}
    picked = {}
    for r in _read(out / "selected.csv"):
        picked.setdefault(r["strategy"], {}).setdefault(int(r["round"]), []).append(r["image_id"])
    assert set(picked) == {"random", "kcenter"} and test
    assert picked["random"][0] == picked["kcenter"][0] and len(picked["random"][0]) == INITIAL
    for rounds in picked.values():
        labeled = [i for r in sorted(rounds) for i in rounds[r]]
        assert all(len(rounds[r]) == BATCH for r in range(1, ROUNDS + 1))
        assert len(set(labeled)) == len(labeled) and not set(labeled) & test


def test_images_to_reach_a_fraction_of_the_full_iou():
    rows = [{"strategy": "a", "n_labeled": n, "iou": iou} for n, iou in [(4, 0.5), (8, 0.86), (12, 0.95)]]
    rows += [{"strategy": "b", "n_labeled": n, "iou": iou} for n, iou in [(4, 0.5), (8, 0.6)]]
    rows.append({"strategy": "full", "n_labeled": 40, "iou": 0.9})
    assert images_to_reach(rows, 0.95) == {"a": 8, "b": None}
    assert images_to_reach(rows, 0.5) == {"a": 4, "b": 4}
    with pytest.raises(ValueError, match="full"):
        images_to_reach(rows[:-1])


def test_bad_settings_are_clear_errors(synthetic_dataset, tmp_path):
    with pytest.raises(ValueError, match="random, entropy"):
        SimulateConfig(strategies=("entropi",))
    d = synthetic_dataset
    r = CliRunner().invoke(app, ["simulate", "--images", str(d / "images"), "--masks", str(d / "masks"),
                                 "--out", str(tmp_path), "--initial", "8", "--batch", "8", "--rounds", "3", *TINY])
    assert r.exit_code != 0 and "need at least 32 pool images" in str(r.exception)


def test_device_names():
    assert resolve_device("cpu") == "cpu" and resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(RuntimeError):
        resolve_device("gpu-please")
