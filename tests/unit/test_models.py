import time

import pytest
import torch

from ml.config import flatten, from_dict, to_dict
from ml.models import ARCHITECTURES, ENCODERS, ModelConfig, WeightsUnavailable, build_model, warm_start


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_builds_with_any_channel_count(arch):
    model = build_model(ModelConfig(arch=arch, encoder="resnet18", in_channels=3, classes=4)).eval()
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 128, 128)).shape == (1, 4, 128, 128)


@pytest.mark.parametrize("encoder", ["resnet34", "efficientnet-b0", "vgg16"])
def test_other_encoders(encoder):
    assert build_model(ModelConfig(encoder=encoder, in_channels=2)) is not None


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="unknown architecture 'segformer9'; choose one of: unet, unetplusplus"):
        build_model(ModelConfig(arch="segformer9"))
    with pytest.raises(ValueError, match="choose one of: resnet18, resnet34"):
        build_model(ModelConfig(encoder="resnet9000"))
    assert "efficientnet-b4" in ENCODERS


def test_pretrained_weights_fail_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="could not be fetched.*encoder_weights=None"):
        build_model(ModelConfig(encoder_weights="imagenet"))
    assert time.perf_counter() - t0 < 5  # generous: the goal (<1 s) is measured, not asserted


def test_warm_start_keeps_matching_layers_and_skips_new_head():
    torch.manual_seed(0)
    old = build_model(ModelConfig(classes=2))
    new = build_model(ModelConfig(classes=3))
    report = warm_start(new, old.state_dict())
    assert any("segmentation_head" in k for k in report["skipped"])
    assert torch.equal(new.encoder.conv1.weight, old.encoder.conv1.weight)


def test_config_round_trip_and_flatten():
    cfg = ModelConfig(decoder_channels=(64, 32, 16, 8, 8))
    assert from_dict(ModelConfig, to_dict(cfg)) == cfg
    assert flatten({"model": to_dict(cfg)})["model.arch"] == "unet"
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        from_dict(ModelConfig, {"archh": "unet"})
