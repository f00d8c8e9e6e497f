"""The GAN trainer (issue 18): trains, its model.pt predicts as any model does, the discriminator is checkpointed
and a resumed run equals an uninterrupted one; ResUNet in the factory; the phases mode of the synthetic generator."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from foundation.schema import LabelSchema, binary_schema
from ml.checkpoint import load_model
from ml.data import find_samples, load_samples
from ml.gan import GanConfig, PatchDiscriminator, build_adversary
from ml.models import ModelConfig, build_model
from ml.predict import PredictConfig, predict_image
from ml.io import ArraySource
from ml.resunet import ResidualDecoderBlock
from ml.synthetic_phases import PHASES, PhasesConfig, generate_phases
from ml.train import TrainConfig, train
from ml.train_options import train_config

TINY = dict(decoder_channels=(32, 16, 16, 8, 8), patch=64, patches_per_epoch=16, batch_size=4, threads=2,
            patience=99)
SMALL_D = GanConfig(width=8, layers=2)


def _gan(epochs: int) -> TrainConfig:
    return replace(train_config(epochs=epochs, trainer="gan", **TINY), gan=SMALL_D)


def _samples(dataset):
    return load_samples(find_samples([dataset / "images"], dataset / "masks"), binary_schema())


class Killed(Exception):
    pass


def test_gan_trainer_trains_and_its_model_predicts_through_the_normal_path(synthetic_dataset, tmp_path):
    samples = _samples(synthetic_dataset)
    seen = []
    result = train(_gan(2), binary_schema(), samples[:9], samples[9:], tmp_path, callbacks=[seen.append])
    assert [r.epoch for r in seen] == [1, 2]
    assert all(r.losses["gan_d_loss"] > 0 and r.losses["gan_g_adv"] > 0 for r in seen)
    assert "gan_d_loss" in result.state.history[-1]
    blob = torch.load(tmp_path / "last.pt", weights_only=False)
    assert blob["config"]["trainer"] == "gan" and set(blob["adversary"]) == {"net", "optimizer"}
    model, artifact = load_model(result.model_path)  # the generator alone: a plain segmentation model
    pred = predict_image(model, ArraySource(samples[9].image), PredictConfig(tile=64, overlap=16), artifact.preprocess)
    assert pred.labels.shape == samples[9].target.shape


@pytest.mark.slow
def test_gan_resumed_after_a_kill_equals_an_uninterrupted_run(synthetic_dataset, tmp_path):
    samples = _samples(synthetic_dataset)
    ref = train(_gan(2), binary_schema(), samples, [], tmp_path / "ref")

    def kill_after_first(record):
        if record.epoch == 1:
            raise Killed  # after epoch 1's checkpoint, as a SIGKILL between epochs would leave it

    with pytest.raises(Killed):
        train(_gan(2), binary_schema(), samples, [], tmp_path / "crashed", callbacks=[kill_after_first])
    resumed = train(_gan(2), binary_schema(), samples, [], tmp_path / "crashed")
    a, b = (torch.load(p / "last.pt", weights_only=False) for p in (tmp_path / "ref", tmp_path / "crashed"))
    keys = ("train_loss", "gan_d_loss", "gan_g_adv")
    assert [h[k] for h in a["state"]["history"] for k in keys] == pytest.approx(
        [h[k] for h in b["state"]["history"] for k in keys], rel=1e-6)
    assert resumed.state.epoch == ref.state.epoch == 2
    for part in (a["model"], a["adversary"]["net"]):
        other = b["model"] if part is a["model"] else b["adversary"]["net"]
        assert all(torch.allclose(part[k].float(), other[k].float(), atol=1e-6) for k in part)


def test_trainer_factory_lists_the_valid_choices():
    with pytest.raises(ValueError, match="unknown trainer 'wgan'; valid: supervised, gan"):
        TrainConfig(trainer="wgan")
    assert build_adversary("supervised", SMALL_D, ModelConfig(), "cpu") is None
    with pytest.raises(ValueError, match="valid: supervised, gan"):
        build_adversary("cyclegan", SMALL_D, ModelConfig(), "cpu")


def test_patch_discriminator_scores_patches_of_image_and_class_map():
    d = PatchDiscriminator(in_channels=1 + 5)
    assert d(torch.zeros(2, 6, 128, 128)).shape == (2, 1, 14, 14)  # pix2pix's 70x70 PatchGAN on 128 px


def test_resunet_has_residual_decoder_blocks_and_is_a_factory_choice():
    model = build_model(ModelConfig(arch="resunet", decoder_channels=(32, 16, 16, 8, 8), classes=5)).eval()
    assert all(isinstance(b, ResidualDecoderBlock) for b in model.decoder.blocks)
    with torch.inference_mode():
        assert model(torch.zeros(1, 1, 64, 96)).shape == (1, 5, 64, 96)
    with pytest.raises(ValueError, match="choose one of: .*linknet.*resunet"):
        build_model(ModelConfig(arch="resunet2"))


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram intersection of two grey-value samples (1: the same distribution, 0: disjoint)."""
    ha, hb = (np.bincount(v, minlength=256) / v.size for v in (a, b))
    return float(np.minimum(ha, hb).sum())


def test_phases_mode_gives_four_classes_with_overlapping_grey_levels():
    s = generate_phases(PhasesConfig(size=256), seed=1)
    assert set(np.unique(s.class_map)) == {1, 2, 3, 4} and len(PHASES) == 4
    assert LabelSchema.load("schemas/phases.yaml").class_names[1:] == PHASES  # after background (0)
    grey = {v: s.image[s.class_map == v] for v in (2, 3, 4)}  # quartz, albite, clay-mix
    for a, b in ((2, 3), (2, 4), (3, 4)):
        assert _overlap(grey[a], grey[b]) > 0.25, (a, b)
    assert np.array_equal(generate_phases(PhasesConfig(size=256), seed=1).image, s.image)


def test_cli_synth_phases_and_train_refuse_unknown_choices(tmp_path):
    from typer.testing import CliRunner

    from grainloop.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["synth", str(tmp_path / "ph"), "--mode", "phases", "--n", "2", "--size", "64"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "ph" / "masks").glob("*.png"))) == 2
    r = runner.invoke(app, ["synth", str(tmp_path / "x"), "--mode", "rocks"])
    assert r.exit_code == 2 and "valid: grains, phases" in r.output
    r = runner.invoke(app, ["train", "--images", str(tmp_path / "ph" / "images"), "--masks",
                            str(tmp_path / "ph" / "masks"), "--out", str(tmp_path / "run"), "--trainer", "wgan"])
    assert r.exit_code == 2 and "valid: supervised, gan" in r.output


def test_mlflow_epoch_metrics_carry_the_discriminator_loss():
    from flows.registry import epoch_metrics
    from ml.train import EpochRecord

    logged = {}

    class FakeMlflow:
        def log_metrics(self, metrics, step):
            logged.update(metrics, step=step)

    epoch_metrics(FakeMlflow())(EpochRecord(3, 0.5, {"mean_fg_iou": 0.4}, 1e-3, 2.0, True,
                                            {"gan_d_loss": 0.61, "gan_g_adv": 0.8}))
    assert logged["gan_d_loss"] == 0.61 and logged["gan_g_adv"] == 0.8
    assert logged["val/mean_fg_iou"] == 0.4 and logged["step"] == 3
