"""Every benchmark runs through its documented entry (`bin/bench NAME`) in a smoke run: tiny sizes, a few steps,
exit 0 and its figure lines printed. Times are never asserted. The training ones run in test_benchmarks_training.py
and the inference ones in test_benchmarks_inference.py (files of their own, so that bin/test's parallel workers share
the smokes out), the Label Studio ones against the session server in tests/integration/test_labeling_benchmarks.py.
The EMPS benchmarks run on a synthetic folder laid out like EMPS (images/, segmaps/ instance maps), so they need no
real data."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import random_model_file, run_bench
from tests.scalebars import needs_ocr, scale_image

ROOT = Path(__file__).resolve().parents[2]
UNIT = {"train_pipeline", "train_precision", "emps_sizes", "register_multimodal", "scale_bars", "stack_compare"}
TRAINING = {"emps_train", "simulate_emps", "recipe_baseline", "semi_supervised", "gan_compare",  # in
            "emps_grains"}  # test_benchmarks_training.py
INFERENCE = {"predict_overhead", "predict_memory", "inference_engines", "backend_latency"}  # test_benchmarks_inference
WITH_SERVER = {"labeling_pull", "labeling_push", "preannotate_throughput"}  # tests/integration
OWN_SERVERS = {"demo_curve"}  # a whole demo per seed (minutes, its own servers): smoked here with --from-runs
NUMBER = r"-?\d+(\.\d+)?"


def _benchmarks() -> set[str]:
    return {p.stem for p in (ROOT / "benchmarks").iterdir()
            if p.suffix in (".py", ".sh") and not p.name.startswith("_")}


def test_every_benchmark_is_listed_documented_and_smoked():
    found = _benchmarks()
    assert found == UNIT | TRAINING | INFERENCE | WITH_SERVER | OWN_SERVERS, \
        "give a new benchmark a smoke test here (or in test_benchmarks_training.py, _inference.py, tests/integration)"
    listing = run_bench()
    docs = (ROOT / "docs" / "benchmarks.md").read_text()
    for name in found:
        assert re.search(rf"^  {name} ", listing, re.M), name
        assert f"bin/bench {name}" in docs, f"docs/benchmarks.md does not give `bin/bench {name}`"


def test_unknown_benchmark_is_refused():
    import subprocess

    done = subprocess.run([str(ROOT / "bin" / "bench"), "no_such_benchmark"], capture_output=True, text=True)
    assert done.returncode == 2 and "no benchmark" in done.stderr


def test_train_pipeline():
    out = run_bench("train_pipeline", "--smoke")
    assert re.search(rf"^raw fwd\+bwd\+step: {NUMBER} img/s; .* ratio {NUMBER} \(goal >= 0.85\)", out, re.M), out


def test_train_precision():
    out = run_bench("train_precision", "--smoke")
    assert re.search(r"^CPU: .*; native bf16: (True|False)", out, re.M), out
    for mode, resolved in (("fp32", "fp32"), ("auto", "(fp32|bf16)"), ("bf16", "bf16")):
        assert re.search(rf"^{mode} \({resolved}\): {NUMBER} steps/s, val mean_fg_iou {NUMBER}; "
                         rf"throughput / fp32 {NUMBER}, IoU - fp32 [+-]{NUMBER}", out, re.M), out


def test_emps_sizes_with_a_model(synthetic_dataset, tmp_path):
    model = random_model_file(tmp_path / "model.pt")
    out = run_bench("emps_sizes", "--smoke", "--data", str(synthetic_dataset), "--masks", "instances",
                    "--val-fraction", "0.5", "--model", str(model))
    assert re.search(r"^6 images \([1-9]\d* validation\); \d+ ground-truth grains", out, re.M), out
    for name in ("GT, all images", "GT, validation split", "model, validation split"):
        assert re.search(rf"^{name}: \d+ grains, ECD D10/D50/D90 {NUMBER}/{NUMBER}/{NUMBER} px", out, re.M), out
    assert re.search(rf"^model vs GT \(validation\): KS {NUMBER}, Wasserstein {NUMBER} px; F1@0.5", out, re.M), out


def test_register_multimodal():
    out = run_bench("register_multimodal", "--smoke")
    assert re.search(r"^command: bin/bench register_multimodal --smoke$", out, re.M), out
    for name in ("multimodal, maps together", "multimodal, Fe alone", "phase correlation \\+ rotation"):
        assert re.search(rf"^\| {name}.* \| 2 \| {NUMBER} / {NUMBER} \|", out, re.M), out
    assert re.search(rf"^residual \(maps together\): shift max {NUMBER} \(goal <= 0.3\), rotation max {NUMBER} "
                     rf"\(goal <= 0.2\), scale max {NUMBER} \(goal <= 0.5\)$", out, re.M), out


@pytest.mark.slow
def test_stack_compare():
    out = run_bench("stack_compare", "--smoke")
    assert re.search(r"^command: bin/bench stack_compare --smoke$", out, re.M), out
    for model, detectors, slices in (("unet", "inchamber", 1), ("unet", "inchamber", 3),
                                     ("unet", r"inchamber\+inlens", 1), ("unet", r"inchamber\+inlens", 3),
                                     ("sensor3d", r"inchamber\+inlens", 3)):
        assert re.search(rf"^\| {model} \| {detectors} \| {slices} \| \d+ \| {NUMBER} \|", out, re.M), out
    assert re.search(rf"^second detector: {NUMBER} \(1 slice\), .* neighbouring slices: {NUMBER} \(1 detector\)",
                     out.replace("+", ""), re.M), out
    assert re.search(rf"^sensor3d against unet, 2 detectors x 3 slices: \+?{NUMBER}$", out, re.M), out


@needs_ocr
def test_scale_bars(tmp_path):
    for k, (length, label) in enumerate(((200, "5 um"), (150, "300 nm"))):
        Image.fromarray(scale_image(length, label, seed=k)).save(tmp_path / f"{k}.png")
    out = run_bench("scale_bars", "--smoke", "--images", str(tmp_path), "--out", str(tmp_path / "r.json"))
    assert re.search(r"^with a scale-bar reading: 2 \(100.0%\)$", out, re.M), out
    assert re.search(rf"^seconds per image: {NUMBER}$", out, re.M) and (tmp_path / "r.json").is_file()


def test_demo_curve_reads_the_seeds_curves_and_judges_the_goal(tmp_path):
    header = "cycle,dataset,champion,test_mean_fg_iou,heldout_mean_fg_iou,edit_cost,edited,images,s_cycle\n"
    curves = {0: ["1,dataset-v1,1,0.5,0.40,,0,4,60", "2,dataset-v2,2,0.6,0.50,0.30,8,12,60",
                  "3,dataset-v3,3,0.7,0.52,0.20,8,20,60"],
              1: ["1,dataset-v1,1,0.5,0.40,,0,4,60", "2,dataset-v2,1,0.5,0.40,0.30,8,12,60",
                  "3,dataset-v3,1,0.5,0.40,0.35,8,20,60"]}
    for seed, rows in curves.items():
        (tmp_path / f"seed-{seed}").mkdir()
        (tmp_path / f"seed-{seed}" / "learning_curve.csv").write_text(header + "\n".join(rows) + "\n")
    out = run_bench("demo_curve", "--from-runs", "--out", str(tmp_path), "--seeds", "0", "1")
    assert re.search(r"^\| 0 \| 3 \| 20 \| 3 \| 0.520 \| 0.700 \| 0.200 \|", out, re.M), out
    assert re.search(r"^\| 1 \| 1 \| 4 \| 1 \| 0.400 \| 0.500 \| - \|", out, re.M), out
    assert "seed 0: held-out IoU gain last vs first champion 0.120 (>= 0.05); edit cost falls" in out, out
    assert "seed 1: held-out IoU gain last vs first champion 0 (not >= 0.05); edit cost does not fall" in out, out
    assert re.search(r"^goal met on 1 of 2 seeds$", out, re.M), out
