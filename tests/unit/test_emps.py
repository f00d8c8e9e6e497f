"""Real SEM/TEM data (../shared/data/emps): loading, banners, a short training, evaluation. Skips when absent."""
import shutil

import numpy as np
import pytest

from ml import runs

from ml.train_options import train_config
from foundation.schema import binary_schema
from ml.checkpoint import load_model
from ml.data import find_samples, load_samples
from ml.evaluate import evaluate
from ml.predict import PredictConfig

pytestmark = pytest.mark.emps


def test_load_instance_maps_and_banners(emps_subset):
    samples = load_samples(find_samples([emps_subset / "images"], emps_subset / "segmaps"), binary_schema(),
                           mask_kind="instance")
    assert all(s.image.shape[0] == 1 for s in samples)  # grey stored as RGB becomes one channel
    assert all(set(np.unique(s.target)) <= {0, 1, 255} for s in samples)
    with_banner = {s.id for s in samples if s.state.banner is not None}
    assert {"37ce835fb2", "60feb7de8f", "2e4a3ab627"} <= with_banner  # instrument banners seen by eye
    for s in samples:
        if s.state.banner is not None:
            assert (s.target[s.state.banner.slices] == 255).all()


@pytest.mark.slow
def test_short_training_on_real_images(emps_subset, tmp_path):
    spec = runs.TrainSpec([emps_subset / "images"], emps_subset / "segmaps", "instance", binary_schema(), 0.34)
    cfg = train_config(epochs=2, patch=128, patches_per_epoch=32, batch_size=8,
                            decoder_channels=(64, 32, 16, 16, 16), threads=2)
    result = runs.run_training(spec, cfg, tmp_path)
    model, artifact = load_model(result.model_path)
    samples = load_samples(find_samples([emps_subset / "images"], emps_subset / "segmaps"), artifact.schema,
                           mask_kind="instance")
    ev = evaluate(model, samples[:2], artifact.schema, PredictConfig(tile=256, overlap=64))
    assert ev.metrics["n_images"] == 2 and 0.0 <= ev.metrics["iou/grain"] <= 1.0
