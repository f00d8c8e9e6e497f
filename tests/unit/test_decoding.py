"""The grain decoding tuned on validation images: chosen by the grain goals, stored in model.pt, used by measure."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import torch

from foundation.schema import binary_schema
from ml.decoding import choose, decoding_config, goals_met, grid, score
from ml.instances import InstanceConfig
from ml.targets import make_target
from tests.unit.test_instances import scene


def _gap_probs(truth: np.ndarray) -> np.ndarray:
    """A boundary model's probabilities for ``scene``, whose boundary has a gap where grains 1 and 2 touch."""
    schema = binary_schema(boundary=True)
    target = make_target((truth > 0).astype(np.uint8), schema, truth)
    contact = target[36:45, 54:62]
    contact[contact == 2] = 1  # their cores join there
    return np.stack([(target == k).astype(np.float32) for k in range(3)]) * 0.8 + 0.1


def test_the_decoding_that_counts_the_grains_is_chosen():
    truth = scene()
    truth[truth == 7] = 0  # the 5-px speck is below the truth's minimum area
    schema = binary_schema(boundary=True)
    probs, truths = {"a": _gap_probs(truth)}, {"a": truth}
    boundary = InstanceConfig(min_area=25, method="boundary")
    cores = InstanceConfig(min_area=25, method="core_watershed", h=2.0)
    scored = [(cfg, score(truths, probs, schema, cfg)) for cfg in (boundary, cores)]
    assert scored[0][1]["grains/n_pred"] == 5 and scored[1][1]["grains/n_pred"] == 6  # 6 true grains
    assert scored[1][1]["grains/pq"] > scored[0][1]["grains/pq"]
    assert choose(scored) == cores and goals_met(scored[1][1]) >= goals_met(scored[0][1])


def test_grid_follows_the_schema():
    assert {c.method for c in grid(binary_schema(boundary=True))} == {"boundary", "core_watershed"}
    assert {c.method for c in grid(binary_schema())} == {"watershed", "components"}
    assert decoding_config({}) == InstanceConfig()
    tuned = {"min_area": 100, "method": "core_watershed", "h": 8.0, "smooth": 1.0}
    assert decoding_config(tuned) == InstanceConfig(100, "core_watershed", 8.0)


def test_a_model_file_without_a_decoding_still_loads(tmp_path):
    from ml.checkpoint import ModelArtifact, read_artifact, save_model
    from ml.models import ModelConfig, build_model
    from ml.preprocess import PreprocessConfig

    cfg = ModelConfig(in_channels=1, classes=2, decoder_channels=(8, 8, 8, 8, 8))
    path = save_model(tmp_path / "model.pt", build_model(cfg), ModelArtifact(cfg, binary_schema(), PreprocessConfig()))
    blob = torch.load(path, weights_only=True)
    del blob["decoding"]  # as written before decodings were tuned
    torch.save(blob, path)
    assert read_artifact(path)[0].decoding == {}


def test_training_tunes_the_decoding_and_measure_uses_it(synthetic_dataset, tmp_path):
    from ml import runs
    from ml.checkpoint import load_model, weights_sha256
    from ml.measure import MeasureSpec, run_measure
    from ml.train_options import train_config

    schema = binary_schema(boundary=True)
    spec = runs.TrainSpec([synthetic_dataset / "images"], synthetic_dataset / "instances", "instance", schema, 0.34)
    cfg = train_config(epochs=1, patch=64, patches_per_epoch=4, batch_size=2, decoder_channels=(16, 8, 8, 8, 8))
    result = runs.run_training(spec, cfg, tmp_path / "run")
    _, artifact = load_model(result.model_path)
    chosen = decoding_config(artifact.decoding)
    assert chosen in grid(schema)
    with open(tmp_path / "run" / "decoding.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(grid(schema)) and {"method", "h", "min_area", "grains/pq", "goals_met"} <= set(rows[0])
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["decoding"] == artifact.decoding
    weights = weights_sha256(result.model_path)
    runs.run_training(spec, cfg, tmp_path / "run")  # a rerun of the finished run keeps its decoding
    assert weights_sha256(result.model_path) == weights  # same weights, same choice
    assert load_model(result.model_path)[1].decoding == artifact.decoding

    images = synthetic_dataset / "images"
    auto = run_measure(MeasureSpec(images=(images,), model=result.model_path, bootstrap=_no_bootstrap()), schema,
                       tmp_path / "auto")
    assert auto["inputs"]["instances"]["method"] == chosen.method, auto["inputs"]
    given = MeasureSpec(images=(images,), model=result.model_path, instances=InstanceConfig(method="boundary"),
                        bootstrap=_no_bootstrap())
    assert run_measure(given, schema, tmp_path / "given")["inputs"]["instances"]["method"] == "boundary"


def test_class_masks_alone_leave_nothing_to_tune(synthetic_dataset, tmp_path):
    from ml import runs
    from ml.checkpoint import load_model
    from ml.train_options import train_config

    spec = runs.TrainSpec([synthetic_dataset / "images"], synthetic_dataset / "masks", "class", binary_schema(), 0.34)
    cfg = train_config(epochs=1, patch=64, patches_per_epoch=4, batch_size=2, decoder_channels=(16, 8, 8, 8, 8))
    result = runs.run_training(spec, cfg, tmp_path / "run")
    assert load_model(result.model_path)[1].decoding == {} and not (tmp_path / "run" / "decoding.csv").exists()
    # a dataset version keeps instance maps beside its class masks (instances/): the validation images' grains
    beside = replace(spec, instances=synthetic_dataset / "instances")
    result = runs.run_training(beside, cfg, tmp_path / "beside")
    assert decoding_config(load_model(result.model_path)[1].decoding) in grid(binary_schema())


def _no_bootstrap():
    from ml.bootstrap import BootstrapConfig

    return BootstrapConfig(0, 0)
