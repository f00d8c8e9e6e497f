"""Training end to end on synthetic data: train, save, reload, predict, evaluate; determinism; resume."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.train_options import train_config
from foundation.schema import binary_schema
from ml.checkpoint import load_model
from ml.data import find_samples, load_samples, split_samples
from ml.evaluate import evaluate
from ml.io import ArraySource
from ml.patches import PatchConfig, PatchDataset
from ml.predict import PredictConfig, predict_image
from ml.train import train

TINY = dict(decoder_channels=(32, 16, 16, 8, 8), patch=64, patches_per_epoch=16, batch_size=4, threads=2)
ROOT = Path(__file__).resolve().parents[2]


def _samples(dataset):
    return load_samples(find_samples([dataset / "images"], dataset / "masks"), binary_schema())


def test_train_save_reload_predict_evaluate(synthetic_dataset, tmp_path):
    samples = _samples(synthetic_dataset)
    tr, va = split_samples(samples, 0.25)
    cfg = train_config(epochs=2, **TINY)
    seen = []
    result = train(cfg, binary_schema(), tr, va, tmp_path, callbacks=[seen.append])
    assert [r.epoch for r in seen] == [1, 2] and result.stopped == "epochs"
    assert "mean_fg_iou" in seen[-1].metrics and seen[-1].train_loss > 0
    model, artifact = load_model(result.model_path)
    assert artifact.schema == binary_schema() and artifact.metrics["n_images"] == len(va)
    pred = predict_image(model, ArraySource(va[0].image), PredictConfig(tile=64, overlap=16), artifact.preprocess)
    assert pred.labels.shape == va[0].target.shape
    ev = evaluate(model, va, artifact.schema, PredictConfig(tile=64, overlap=16))
    assert 0.0 <= ev.metrics["iou/grain"] <= 1.0 and len(ev.rows) == len(va)


def test_patches_are_reproducible_per_epoch_and_balanced(synthetic_dataset):
    samples = _samples(synthetic_dataset)
    ds = PatchDataset(samples, PatchConfig(size=48, per_epoch=40, class_balanced=True), None, seed=1)
    ds.set_epoch(3)
    a = [ds[i][1] for i in range(len(ds))]
    ds.set_epoch(4)
    ds.set_epoch(3)
    assert all(torch.equal(x, ds[i][1]) for i, x in enumerate(a))
    grain_share = float(torch.stack(a).eq(1).float().mean())
    assert grain_share > 0.3  # centred on grains half of the time


def test_same_seed_same_weights(synthetic_dataset, tmp_path):
    samples = _samples(synthetic_dataset)
    cfg = train_config(epochs=1, **TINY)
    w = [train(cfg, binary_schema(), samples, [], tmp_path / str(i)).model_path for i in range(2)]
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in w)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_warm_start_trains_at_warm_lr_and_a_fresh_start_at_lr(synthetic_dataset, tmp_path):
    samples = _samples(synthetic_dataset)
    cfg = train_config(epochs=1, lr=2e-3, warm_lr=5e-4, restart_epochs=100, **TINY)
    lrs = {}
    first = train(cfg, binary_schema(), samples, [], tmp_path / "fresh", callbacks=[lambda r: lrs.setdefault("fresh", r.lr)])
    init = torch.load(first.model_path, weights_only=True)["state_dict"]
    train(cfg, binary_schema(), samples, [], tmp_path / "warm", init_weights=init,
          callbacks=[lambda r: lrs.setdefault("warm", r.lr)])
    assert lrs["fresh"] == pytest.approx(2e-3, rel=0.01) and lrs["warm"] == pytest.approx(5e-4, rel=0.01)


def _cli_train(data: Path, out: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "grainloop", "train", "--images", str(data / "images"), "--masks",
            str(data / "masks"), "--out", str(out), "--epochs", str(epochs), "--decoder-channels", "32,16,16,8,8",
            "--patch", "64", "--patches-per-epoch", "16", "--batch-size", "4", "--threads", "2", "--patience", "99"]


@pytest.mark.slow
def test_killed_mid_epoch_resumes_to_the_same_result(synthetic_dataset, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    subprocess.run(_cli_train(synthetic_dataset, ref, 3), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_cli_train(synthetic_dataset, crashed, 3), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (crashed / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # epoch 1 is checkpointed; epoch 2 has begun
    proc.wait()
    state = torch.load(crashed / "last.pt", weights_only=False)["state"]
    assert state["epoch"] < 3, "the process finished before it could be killed"
    subprocess.run(_cli_train(synthetic_dataset, crashed, 3), check=True, env=env, capture_output=True)
    a = torch.load(ref / "last.pt", weights_only=False)
    b = torch.load(crashed / "last.pt", weights_only=False)
    assert [h["train_loss"] for h in a["state"]["history"]] == pytest.approx(
        [h["train_loss"] for h in b["state"]["history"]], rel=1e-6)
    assert all(torch.allclose(a["model"][k].float(), b["model"][k].float(), atol=1e-6) for k in a["model"])
