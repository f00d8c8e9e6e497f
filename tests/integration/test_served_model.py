"""The registered model as MLflow serves it: a real `mlflow models serve --env-manager local` process on a registered
version, asked over HTTP, answers the class map `grainloop predict` writes for the same image; the same through
mlflow.pyfunc.load_model, with probabilities and uncertainty on request; the raw network is kept beside it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from flows.registry import NETWORK, log_trained
from flows.tracking import TrackingConfig, configure
from grainloop.cli import app
from labeling.server import free_port
from ml.engine import EngineConfig, choose
from ml.io import read_image, read_mask
from ml.train_options import train_config
from tests.helpers import random_model_file


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    project = tmp_path_factory.mktemp("served")
    tracking = TrackingConfig.for_project(project, env={})
    model_file = random_model_file(project / "model.pt", seed=1)  # predicts both classes on the image
    logged = log_trained(tracking, model_file, train_config(epochs=1), {"mean_fg_iou": 0.5})
    return tracking, model_file, logged


@pytest.fixture(scope="module")
def image(synthetic_dataset) -> Path:
    return sorted((synthetic_dataset / "images").iterdir())[0]


@pytest.fixture(scope="module")
def predicted(registered, image, tmp_path_factory) -> np.ndarray:
    """What `grainloop predict` writes for the image, with the engine the served model picks (auto without
    calibration windows: never int8, which `predict` calibrates on the images it is given)."""
    _, model_file, _ = registered
    folder, out = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("predicted")
    (folder / image.name).symlink_to(image)
    engine, precision = choose(EngineConfig())
    result = CliRunner().invoke(app, ["predict", "--model", str(model_file), "--images", str(folder),
                                      "--out", str(out), "--engine", engine, "--precision", precision])
    assert result.exit_code == 0, result.output
    labels = read_mask(out / f"{image.stem}.png")
    assert len(np.unique(labels)) == 2  # both classes: equality below compares real maps
    return labels


def _wait(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else "the server exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def test_mlflow_models_serve_answers_the_class_map_of_grainloop_predict(registered, image, predicted, tmp_path):
    tracking, _, logged = registered
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the model's own code, not this checkout's
    env["MLFLOW_TRACKING_URI"] = tracking.tracking_uri
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # the venv activated: its uvicorn
    process = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", logged.model_uri,
                                "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(f"http://127.0.0.1:{port}/ping", process)
        pixels = read_image(image).astype(np.float32)  # (1, H, W), raw intensities
        body = json.dumps({"inputs": pixels[None].tolist()}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            served = np.asarray(json.load(response)["predictions"], np.uint8)
    finally:
        process.terminate()
        process.wait(30)
    assert served.shape == (1, *predicted.shape)
    assert np.array_equal(served[0], predicted)


def test_pyfunc_in_process_with_probabilities_uncertainty_and_the_raw_network(registered, image, predicted):
    tracking, _, logged = registered
    configure(tracking)
    model = mlflow.pyfunc.load_model(f"models:/{tracking.model_name}@challenger")
    pixels = read_image(image).astype(np.float32)
    assert np.array_equal(model.predict(pixels[None])[0], predicted)
    out = model.predict(pixels[None], params={"probabilities": True, "uncertainty": True})
    assert np.array_equal(out["labels"][0], predicted)
    assert out["probabilities"].shape == (1, 2, *predicted.shape)
    assert np.allclose(out["probabilities"].sum(1), 1, atol=1e-4)
    assert out["uncertainty"].shape == (1, *predicted.shape) and (out["uncertainty"] >= 0).all()
    with pytest.raises(Exception, match="shape"):
        model.predict(np.zeros((1, 3, 32, 32), np.float32))  # the model reads one channel
    network = mlflow.pytorch.load_model(f"runs:/{logged.run_id}/{NETWORK}")
    assert network(torch.zeros(1, 1, 64, 64)).shape == (1, 2, 64, 64)
