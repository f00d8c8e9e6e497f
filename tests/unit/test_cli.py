"""The CLI: --help on every command, and train -> evaluate -> predict on folders."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from grainloop.cli import app

runner = CliRunner()
COMMANDS = [[], ["train"], ["evaluate"], ["predict"], ["synth"], ["demo"], ["labelstudio"], ["labelstudio", "up"],
            ["labelstudio", "down"], ["labelstudio", "status"], ["model"], ["model", "promote"], ["model", "rollback"],
            ["down"], ["cycle"], ["serve"], ["simulate"], ["measure"], ["register"], ["mlflow", "up"],
            ["prefect", "up"], ["prefect", "down"], ["prefect", "status"], ["dataset", "init"], ["dataset", "import"],
            ["dataset", "commit"], ["dataset", "release"], ["init"], ["add"], ["status"], ["config"], ["config", "show"],
            ["config", "get"], ["config", "set"], ["labelstudio", "user", "add"], ["campaign", "plan"],
            ["campaign", "review"], ["campaign", "status"], ["campaign", "close"]]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_everywhere(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.slow
def test_folders_in_files_out(synthetic_dataset, tmp_path):
    d = synthetic_dataset
    r = runner.invoke(app, ["train", "--images", str(d / "images"), "--masks", str(d / "masks"), "--out",
                            str(tmp_path / "run"), "--epochs", "1", "--patch", "64", "--patches-per-epoch", "8",
                            "--batch-size", "4", "--decoder-channels", "32,16,16,8,8"])
    assert r.exit_code == 0, r.output
    for name in ["model.pt", "last.pt", "history.csv", "learning_curve.png", "metrics.json", "split.csv"]:
        assert (tmp_path / "run" / name).exists(), name
    model = str(tmp_path / "run" / "model.pt")
    r = runner.invoke(app, ["evaluate", "--model", model, "--images", str(d / "images"), "--masks", str(d / "masks"),
                            "--out", str(tmp_path / "eval"), "--overlays", "2"])
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_images"] == 12 and len(list((tmp_path / "eval" / "overlays").glob("*.png"))) == 2
    assert (tmp_path / "eval" / "per_image.csv").read_text().count("\n") == 13
    r = runner.invoke(app, ["predict", "--model", model, "--images", str(d / "images"), "--out",
                            str(tmp_path / "pred"), "--tile", "64", "--overlap", "16", "--uncertainty"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "pred").glob("syn_*_uncertainty.png"))) == 12
    assert len(list((tmp_path / "pred" / "overlays").glob("*.png"))) == 12


def test_bad_dataset_is_a_clear_error(synthetic_dataset, tmp_path):
    import shutil

    images = tmp_path / "images"
    shutil.copytree(synthetic_dataset / "images", images)
    (images / "syn_0000.tif").write_bytes(b"broken")
    r = runner.invoke(app, ["train", "--images", str(images), "--masks", str(synthetic_dataset / "masks"),
                            "--out", str(tmp_path / "run"), "--epochs", "1"])
    assert r.exit_code != 0
    assert "syn_0000.tif" in str(r.exception)


def test_the_cli_starts_without_the_heavy_libraries():
    """Building the CLI (as for any --help) imports no model, service or science library: a command imports what it
    needs when it runs, so each `grainloop` subprocess starts in a fraction of a second."""
    import subprocess
    import sys
    from pathlib import Path

    heavy = ["torch", "numpy", "scipy", "pandas", "skimage", "mlflow", "prefect", "dvc", "label_studio_sdk", "yaml",
             "foundation", "ml", "dataset", "labeling", "flows", "grainloop.demo"]
    code = ("import sys, grainloop.cli; "
            "loaded = {m.split('.')[0] for m in sys.modules} | {m for m in sys.modules if m.startswith('grainloop')}; "
            f"print(sorted(loaded & {set(heavy)}))")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.strip() == "[]"


def test_simulate_help_names_every_strategy():
    from grainloop.simulate_commands import STRATEGY_NAMES
    from ml.sampling import STRATEGIES

    assert STRATEGY_NAMES == tuple(STRATEGIES), "a new strategy's name goes into simulate's help list too"


def test_predict_refuses_an_engine_without_the_precision(tmp_path):
    from tests.helpers import random_model_file

    model = random_model_file(tmp_path / "model.pt")
    r = runner.invoke(app, ["predict", "--model", str(model), "--images", str(tmp_path), "--out", str(tmp_path / "o"),
                            "--engine", "onnxruntime", "--precision", "bf16"])
    words = " ".join(r.output.replace("│", " ").split())  # Rich wraps the message in a box
    assert r.exit_code == 2 and "engine onnxruntime has no bf16; choose one of: auto, fp32, int8" in words, r.output
