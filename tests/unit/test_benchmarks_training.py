"""The training benchmarks' smoke runs through `bin/bench NAME --smoke` (see test_benchmarks.py, which checks that every
benchmark has one): tiny sizes, a few steps, exit 0 and their figure lines printed; times are never asserted. A file of
their own so that bin/test's parallel workers share the smokes out. They run on a synthetic folder laid out like EMPS
(images/, segmaps/ instance maps), so they need no real data."""
from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import pytest

from benchmarks._cli import emps_splits
from tests.helpers import emps_like, run_bench

NUMBER = r"-?\d+(\.\d+)?"


@pytest.mark.slow
def test_emps_train(synthetic_dataset, tmp_path):
    out = run_bench("emps_train", "--smoke", str(tmp_path / "run"),
                    env={"EMPS_DIR": str(emps_like(synthetic_dataset, tmp_path))})
    assert re.search(rf"^EMPS validation particle IoU {NUMBER} \(epoch 1, stopped: epochs", out, re.M), out
    assert (tmp_path / "run" / "model.pt").exists()


@pytest.mark.slow
def test_simulate_emps(synthetic_dataset, tmp_path):
    """Two seeds at once, as the documented three-seed run does: each seed's campaigns, then the table over them;
    STRATEGIES replaces the profile's strategies."""
    out = run_bench("simulate_emps", "--smoke", str(tmp_path / "run"),
                    env={"EMPS_DIR": str(emps_like(synthetic_dataset, tmp_path)), "SEEDS": "0 1", "JOBS": "2",
                         "STRATEGIES": "random typiclust kcenter"})
    assert re.search(r"^\| strategy \| seed 0 \| seed 1 \| mean \| / random \|$", out, re.M), out
    for strategy in ("random", "typiclust", "kcenter"):
        assert re.search(rf"^\| {strategy} \| (\d+|>\d+) \| (\d+|>\d+) \| ", out, re.M), out
    assert all((tmp_path / "run" / f"seed{s}" / "simulate.csv").exists() for s in (0, 1))
    assert re.search(r"^best strategy (typiclust|kcenter): ", out, re.M), out
    assert (tmp_path / "run" / "learning_curves.png").exists() and (tmp_path / "run" / "seeds.csv").exists()


@pytest.mark.slow
def test_simulate_emps_apart(synthetic_dataset, tmp_path):
    """APART=1: each strategy and the full reference in a process of its own, their rows joined per seed."""
    out = run_bench("simulate_emps", "--smoke", str(tmp_path / "run"),
                    env={"EMPS_DIR": str(emps_like(synthetic_dataset, tmp_path)), "APART": "1", "JOBS": "3",
                         "TIMEOUT": "600"})
    with open(tmp_path / "run" / "seed0" / "simulate.csv") as f:
        assert sorted({row["strategy"] for row in csv.DictReader(f)}) == ["full", "kcenter", "random"]
    assert re.search(r"^best strategy kcenter: |^no strategy other than random", out, re.M), out
    assert not (tmp_path / "run" / "failed").exists()


def test_recipe_baseline(synthetic_dataset, tmp_path):
    out = run_bench("recipe_baseline", "--smoke", "--emps", str(emps_like(synthetic_dataset, tmp_path)))
    assert re.search(r"^command: bin/bench recipe_baseline --smoke --emps ", out, re.M), out
    assert re.search(r"^\d+ training and [1-9]\d* validation images of .* \(sha256 split 70/15/15", out, re.M), out
    assert re.search(r"^\| run \| steps \| epochs \| minutes \| stopped \| best epoch \|", out, re.M), out
    for name in ("recipe", "baseline"):
        assert re.search(rf"^\| {name} \| [1-9]\d* \| [1-9]\d* \| {NUMBER} \| \w+ \| \d+ \| {NUMBER} "
                         rf"\| \*\*{NUMBER}\*\* \|$", out, re.M), out
    assert re.search(r"^ratio recipe / baseline \(val particle IoU\): ", out, re.M), out


@pytest.mark.parametrize("method", ["mean_teacher", "self_training", "pretrain"])
def test_semi_supervised(synthetic_dataset, tmp_path, method):
    out = run_bench("semi_supervised", "--smoke", "--method", method, "--emps",
                    str(emps_like(synthetic_dataset, tmp_path)))
    assert re.search(rf"^command: bin/bench semi_supervised --smoke --method {method} --emps ", out, re.M), out
    assert re.search(r"^\d+ training images \(labelled \+ pool\), [1-9]\d* validation, [1-9]\d* test;", out, re.M), out
    assert re.search(rf"^\| 2 \| 0 \| {NUMBER} \| {NUMBER} \| ({NUMBER}|nan) \| {NUMBER}, {NUMBER} \|$", out, re.M), out
    assert re.search(r"^2 labelled: mean ratio ", out, re.M), out


def test_gan_compare(synthetic_dataset, tmp_path):
    out = run_bench("gan_compare", "--smoke", "--datasets", "synthetic,emps", "--emps",
                    str(emps_like(synthetic_dataset, tmp_path)))
    assert re.search(r"^command: bin/bench gan_compare --smoke --datasets synthetic,emps --emps ", out, re.M), out
    assert re.search(r"^\| data \| tile \| model \| batch \| epochs \(best\) \| minutes \| IoU pore \| IoU quartz "
                     r"\| IoU albite \| IoU clay-mix \| mean_fg_iou \|$", out, re.M), out
    assert re.search(r"^\| data \| .* \| IoU background \| IoU grain \| mean_fg_iou \|$", out, re.M), out
    for data in ("synthetic", "emps"):
        for model in ("unet", "gan"):
            assert re.search(rf"^\| {data} \| 64 \| {model} \| \d+ \| [1-9]\d* \(\d+\) \| {NUMBER} \| .*"
                             rf"\*\*{NUMBER}\*\* \|$", out, re.M), out


def test_recipe_baseline_skips_without_emps(tmp_path):
    out = run_bench("recipe_baseline", "--smoke", "--emps", str(tmp_path / "absent"))
    assert re.search(r"^no EMPS data at .*: skipped$", out, re.M), out


def test_emps_grains(synthetic_dataset, tmp_path):
    out = run_bench("emps_grains", "--smoke", "--tta", "on", "--emps", str(emps_like(synthetic_dataset, tmp_path)))
    assert re.search(r"^command: bin/bench emps_grains --smoke --tta on --emps ", out, re.M), out
    assert re.search(r"^EMPS hash split: [1-9]\d* train, [1-9]\d* val, [1-9]\d* test; downsample 2$", out, re.M), out
    assert re.search(r"^trained [1-9]\d* epochs \(\d+ steps\) in .*, precision (fp32|bf16), device cpu, "
                     r"0 patch workers$", out, re.M), out
    value = rf"({NUMBER}|nan)"
    rows = re.findall(rf"^\| (.+?) \| {value} \| {value} \| {value} \| {value} \| {value} \| \d+ / \d+ \|$", out, re.M)
    decodings = [r[0] for r in rows]
    assert {"boundary, min area 25, flips", "core_watershed h=2, min area 50, flips",
            "components, min area 100, flips"} <= set(decodings), out
    assert any(d.startswith("chosen: ") for d in decodings), out
    assert any(d.startswith("for scale: watershed h=1, min area 10") for d in decodings), out
    assert re.search(r"^goals on test: mean_fg_iou .* \(>= 0.75: (not )?met\); grains/count_rel_error_median ", out,
                     re.M), out


def test_emps_grains_class_only(synthetic_dataset, tmp_path):
    out = run_bench("emps_grains", "--smoke", "--tta", "off", "--no-boundary", "--emps",
                    str(emps_like(synthetic_dataset, tmp_path)))
    rows = re.findall(r"^\| (\w+)[ ,].*\| \d+ / \d+ \|$", out, re.M)
    assert {"watershed", "components"} == set(rows) - {"chosen", "for"}, out  # the grain map's splits only
    assert re.search(r"^goals on test: ", out, re.M), out


def test_emps_grains_trains_on_a_smaller_copy_without_test_images(synthetic_dataset, tmp_path):
    """What a lent GPU runs: a grey copy of the train and val images that keeps their hash split, then training
    alone (the decoding is left to `--model` where the test images are)."""
    emps = emps_like(synthetic_dataset, tmp_path)
    copy = tmp_path / "copy"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([str(root / ".venv" / "bin" / "python"), "-P", "-m", "benchmarks._emps_copy", str(copy),
                           "--emps", str(emps), "--splits", "train,val"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=300)
    assert done.returncode == 0, done.stderr
    kept = {f.images[0].name: split for f, split in emps_splits(emps) if split != "test"}
    assert kept and kept == {f.images[0].name: split for f, split in emps_splits(copy)}  # the recorded hashes
    whole = run_bench("emps_grains", "--smoke", "--train-only", "--out", str(tmp_path / "a"), "--emps", str(emps))
    out = run_bench("emps_grains", "--smoke", "--train-only", "--workers", "2", "--out", str(tmp_path / "b"),
                    "--emps", str(copy))
    counts = re.search(r"^EMPS hash split: (\d+) train, (\d+) val, (\d+) test;", whole, re.M).groups()
    assert re.search(rf"^EMPS hash split: {counts[0]} train, {counts[1]} val, 0 test;", out, re.M), out
    assert re.search(r", device cpu, 2 patch workers$", out, re.M), out
    assert (tmp_path / "b" / "grains" / "model.pt").exists() and "goals on test" not in out
