"""`grainloop simulate` on the synthetic dataset: campaigns per strategy, the full reference, CSVs and the plot."""
import csv
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from grainloop.cli import app
from ml.data import split_of
from ml.report import write_rows
from ml.simulate import SimulateConfig, images_to_reach
from ml.simulate_report import report_seeds, seeds_table, summarize_seeds
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


def test_seeds_summary_counts_each_seed_and_compares_the_best_with_random(tmp_path):
    def rows(random, kcenter, full):
        out = [{"strategy": "random", "n_labeled": n, "iou": iou} for n, iou in zip((10, 20, 30), random)]
        out += [{"strategy": "kcenter", "n_labeled": n, "iou": iou} for n, iou in zip((10, 20, 30), kcenter)]
        return out + [{"strategy": "full", "n_labeled": 100, "iou": full}]

    by_seed = {0: rows((0.5, 0.7, 0.96), (0.5, 0.96, 0.97), 1.0), 1: rows((0.4, 0.96, 0.97), (0.4, 0.8, 0.96), 1.0),
               2: rows((0.5, 0.6, 0.7), (0.5, 0.95, 0.9), 1.0)}
    summary = summarize_seeds(by_seed, 0.95)
    assert summary.reach == {"random": {0: 30, 1: 20, 2: None}, "kcenter": {0: 20, 1: 30, 2: 20}}
    assert summary.largest == 30 and summary.best() == "kcenter"
    assert summary.mean_reach("random") is None and summary.ratio("kcenter") is None
    assert summary.ratio("kcenter", 0) == pytest.approx(20 / 30) and summary.ratio("kcenter", 2) is None
    table = "\n".join(seeds_table(summary))
    assert "| random | 30 | 20 | >30 | >26.7 | - |" in table and "| kcenter | 20 | 30 | 20 | 23.3 | <= 0.87 |" in table

    csvs = {}
    for seed, seed_rows in by_seed.items():
        csvs[seed] = write_rows(tmp_path / f"seed{seed}" / "simulate.csv", seed_rows)
    lines = report_seeds(tmp_path, {0: csvs[0], 1: csvs[1]})
    assert lines[-1] == "best strategy kcenter: 1.00 of random's mean count (per seed: 0.67, 1.50)"
    assert (tmp_path / "learning_curves.png").stat().st_size > 0
    assert len(_read(tmp_path / "seeds.csv")) == 4
    assert report_seeds(tmp_path, {2: csvs[2]}, 0.99)[-1] == ("no strategy other than random reached 99% of the "
                                                              "full-data IoU in every seed within 30 labeled images")


def test_a_strategy_that_missed_a_seed_gets_a_lower_bound_against_random(tmp_path):
    """Counts not reached are more than the largest campaign: the ratio is at least the one they would give."""
    def rows(random, kcenter, typiclust):
        out = [{"strategy": "full", "n_labeled": 100, "iou": 1.0}]
        for name, ious in (("random", random), ("kcenter", kcenter), ("typiclust", typiclust)):
            out += [{"strategy": name, "n_labeled": n, "iou": iou} for n, iou in zip((10, 20, 30), ious)]
        return out

    by_seed = {0: rows((0.5, 0.96, 0.97), (0.5, 0.6, 0.96), (0.5, 0.6, 0.7)),
               1: rows((0.5, 0.6, 0.96), (0.5, 0.96, 0.97), (0.96, 0.97, 0.97))}
    summary = summarize_seeds(by_seed, 0.95)
    assert summary.reach["random"] == {0: 20, 1: 30} and summary.mean_at_least("typiclust") == 20.0
    assert summary.best() == "kcenter" and summary.ratio_text("typiclust") == ">= 0.80"
    csvs = {seed: write_rows(tmp_path / f"seed{seed}" / "simulate.csv", r) for seed, r in by_seed.items()}
    assert report_seeds(tmp_path, csvs)[-1] == ("best strategy kcenter: 1.00 of random's mean count "
                                                "(per seed: 1.50, 0.67)")
    del by_seed[0][4:7]  # kcenter misses seed 0 too: the best lower bound is typiclust's
    by_seed[0] += [{"strategy": "kcenter", "n_labeled": n, "iou": 0.5} for n in (10, 20, 30)]
    csvs = {seed: write_rows(tmp_path / f"seed{seed}" / "simulate.csv", r) for seed, r in by_seed.items()}
    assert report_seeds(tmp_path, csvs)[-1] == ("no strategy other than random reached 95% of the full-data IoU in "
                                                "every seed within 30 labeled images; best strategy typiclust: "
                                                ">= 0.80 of random's mean count")


def test_rounds_take_the_warm_learning_rate_and_patch_workers(synthetic_dataset, tmp_path, monkeypatch):
    """--warm-lr reaches every round's TrainConfig (ml.train uses it where a round starts from the previous one)."""
    import ml.simulate

    seen = {}
    monkeypatch.setattr(ml.simulate, "simulate", lambda samples, schema, cfg, out, **kw: seen.setdefault("cfg", cfg))
    d = synthetic_dataset
    CliRunner().invoke(app, ["simulate", "--images", str(d / "images"), "--masks", str(d / "masks"), "--out",
                             str(tmp_path), "--lr", "3e-3", "--warm-lr", "1e-3", "--no-full", "--workers", "2"])
    assert (seen["cfg"].train.lr, seen["cfg"].train.warm_lr, seen["cfg"].train.workers) == (3e-3, 1e-3, 2)


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


def test_the_reference_alone_concatenates_with_campaigns_run_apart(simulated, synthetic_dataset, tmp_path):
    """--full-only trains only the reference (the same length as the campaigns'), so it can run in a process of its
    own; its simulate.csv row is the one a whole run writes."""
    out, _, ids = simulated
    d = synthetic_dataset
    r = CliRunner().invoke(app, ["simulate", "--images", str(d / "images"), "--masks", str(d / "masks"), "--out",
                                 str(tmp_path), "--full-only", "--rounds", str(ROUNDS), "--seed", "1",
                                 "--test-fraction", str(TEST_FRACTION), *TINY])
    assert r.exit_code == 0, r.output
    (alone,) = _read(tmp_path / "simulate.csv")
    (whole,) = [row for row in _read(out / "simulate.csv") if row["strategy"] == "full"]
    assert (alone["strategy"], alone["n_labeled"]) == ("full", whole["n_labeled"])
    with pytest.raises(ValueError, match="only with the full reference"):
        SimulateConfig(strategies=(), full=False)


def test_a_run_stopped_part_way_keeps_the_rounds_it_finished(synthetic_dataset, tmp_path, monkeypatch):
    import ml.simulate

    real_pick = ml.simulate._pick

    def pick_then_stop(run, strategy, state, r):
        if r == 2:
            raise KeyboardInterrupt  # as a run's time limit stops it
        return real_pick(run, strategy, state, r)

    monkeypatch.setattr(ml.simulate, "_pick", pick_then_stop)
    d = synthetic_dataset
    CliRunner().invoke(app, ["simulate", "--images", str(d / "images"), "--masks", str(d / "masks"), "--out",
                             str(tmp_path), "--strategy", "random", "--initial", str(INITIAL), "--batch", str(BATCH),
                             "--rounds", str(ROUNDS), "--test-fraction", str(TEST_FRACTION), *TINY])
    rows = _read(tmp_path / "simulate.csv")
    assert [(row["strategy"], int(row["round"])) for row in rows] == [("random", 0), ("random", 1)]


@pytest.mark.slow
def test_a_killed_run_keeps_whole_rows_of_the_rounds_it_finished(synthetic_dataset, tmp_path):
    """SIGKILL mid-campaign: simulate.csv holds the finished rounds, each row whole (written temp-and-rename)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    d, out = synthetic_dataset, tmp_path / "killed"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "grainloop", "simulate", "--images", str(d / "images"), "--masks",
                             str(d / "masks"), "--out", str(out), "--strategy", "random", "--initial", str(INITIAL),
                             "--batch", str(BATCH), "--rounds", "3", "--test-fraction", str(TEST_FRACTION), *TINY],
                            env={**os.environ, "PYTHONPATH": str(root)}, cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / "simulate.csv").exists() and len(_read(out / "simulate.csv")) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # rounds 0 and 1 are written; a later round is training
    proc.wait()
    rows = _read(out / "simulate.csv")
    assert "full" not in {r["strategy"] for r in rows}, "the run finished before it could be killed"
    assert [int(r["round"]) for r in rows] == list(range(len(rows))) and len(rows) >= 2
    assert all(r["strategy"] == "random" and float(r["iou"]) >= 0 for r in rows)
