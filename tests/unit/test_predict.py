"""Tests for ml.predict: one sliding-window engine, seam-free, the same in memory and TIFF to TIFF."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from ml.box import Box
from ml.models import ModelConfig, build_model
from ml.predict import WINDOWS, PredictConfig, predict_image, predict_tiff
from ml.preprocess import apply, fit
from ml.synthetic import SyntheticConfig, generate
from ml.tiling import Grid, entropy_to_uint8

CFG = PredictConfig(tile=64, overlap=16, batch_size=4, probabilities=True, uncertainty=True)


def _unet(in_channels: int = 1, classes: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = ModelConfig(arch="unet", encoder="resnet18", in_channels=in_channels, classes=classes,
                      decoder_channels=(32, 16, 8, 8, 8))
    return build_model(cfg)


def _conv_net() -> torch.nn.Module:
    """Translation-equivariant except at the window edges (zero padding): seams come from tiling alone."""
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(1, 8, 5, padding=2), torch.nn.Tanh(), torch.nn.Conv2d(8, 8, 5, padding=2),
              torch.nn.Tanh(), torch.nn.Conv2d(8, 2, 5, padding=2)]
    return torch.nn.Sequential(*layers)


def _noise(h: int = 200, w: int = 300, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w)) * 255).astype(np.uint8)


def _smooth(h: int = 192, w: int = 288) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (128 + 100 * np.sin(x / 23.0) * np.cos(y / 31.0)).astype(np.uint8)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads; one keeps these tests fast on a shared, busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    return _unet()


def test_crop_prediction_equals_cropped_prediction(unet: torch.nn.Module) -> None:
    image, stride = _noise(), CFG.tile - CFG.overlap
    state = fit(image)
    assert state.banner is None
    full = predict_image(unet, image, CFG, state=state)
    a, b, h, w = stride, stride, 152, 240
    crop_state = replace(state, shape=(1, h, w))
    crop = predict_image(unet, image[a : a + h, b : b + w], CFG, state=crop_state)
    m = CFG.tile
    inner = crop.probabilities[:, m : h - m, m : w - m]
    np.testing.assert_allclose(inner, full.probabilities[:, a + m : a + h - m, b + m : b + w - m], atol=1e-5)
    assert not np.allclose(crop.probabilities[:, :4], full.probabilities[:, a : a + 4, b : b + w], atol=1e-3)


def _seam_ratio(p: np.ndarray, axis: int, grid: Grid) -> float:
    """Mean |step| across window edges over the mean |step| everywhere, along one axis."""
    steps = np.abs(np.diff(p, axis=axis))
    pos = (np.arange(1, p.shape[axis]) + grid.offset) % grid.stride
    edge = (pos == 0) | (pos == grid.overlap)
    return float(np.compress(edge, steps, axis=axis).mean() / steps.mean())


def test_blending_is_seam_free() -> None:
    image, model, ratios = _smooth(), _conv_net(), {}
    grid = Grid(image.shape[1], CFG.tile, CFG.overlap)
    for window in ("hann", "constant"):
        p = predict_image(model, image, replace(CFG, window=window)).probabilities[1]
        ratios[window] = max(_seam_ratio(p, 0, grid), _seam_ratio(p, 1, grid))
    assert ratios["constant"] > 1.5, ratios  # the measure sees the seams of a hard window
    assert ratios["hann"] < 1.2 and ratios["hann"] <= ratios["constant"], ratios


def test_single_window_equals_the_model(unet: torch.nn.Module) -> None:
    image = _noise(100, 150)
    state = fit(image)
    pred = predict_image(unet, image, replace(CFG, tile=160, overlap=0), state=state)
    with torch.inference_mode():
        direct = unet(torch.from_numpy(apply(image, state, Box(0, 160, 0, 160))[None])).softmax(1)[0].numpy()
    np.testing.assert_allclose(pred.probabilities, direct[:, :100, :150], atol=1e-6)


@pytest.mark.parametrize("bits", [8, 16])
def test_tiff_path_equals_in_memory_path(tmp_path: Path, unet: torch.nn.Module, bits: int) -> None:
    sample = generate(SyntheticConfig(height=300, width=500, bit_depth=bits), seed=bits)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, sample.image, tile=(64, 64) if bits == 8 else None)
    dst, unc = tmp_path / "labels.tif", tmp_path / "entropy.tif"
    summary = predict_tiff(unet, src, dst, CFG, uncertainty_dst=unc)
    memory = predict_image(unet, sample.image, CFG)
    np.testing.assert_array_equal(tifffile.imread(dst), memory.labels)
    np.testing.assert_array_equal(tifffile.imread(unc), entropy_to_uint8(memory.entropy, 2))
    for path in (dst, unc):
        with tifffile.TiffFile(path) as tif:
            assert tif.pages[0].is_tiled and tif.pages[0].shape == (300, 500)
    assert summary["shape"] == [300, 500] and summary["n_tiles"] > 0 and summary["seconds"] > 0
    assert summary["banner"] == (memory.banner.to_dict() if memory.banner else None)


class _FailsLater(torch.nn.Module):
    def __init__(self, after: int):
        super().__init__()
        self.net, self.calls, self.after = _conv_net(), 0, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError("model failed")
        return self.net(x)


def test_failed_tiff_prediction_leaves_no_file(tmp_path: Path) -> None:
    src, dst, unc = tmp_path / "in.tif", tmp_path / "labels.tif", tmp_path / "entropy.tif"
    tifffile.imwrite(src, _noise(400, 300))
    model = _FailsLater(after=15)  # 18 batches; the first 256-row block is already written by then
    with pytest.raises(RuntimeError, match="model failed"):
        predict_tiff(model, src, dst, CFG, uncertainty_dst=unc)
    assert model.calls == 16 and not dst.exists() and not unc.exists()


@pytest.mark.parametrize("window", WINDOWS)
def test_probabilities_sum_to_one_and_entropy_is_bounded(window: str) -> None:
    pred = predict_image(_unet(classes=3), _noise(120, 170), replace(CFG, window=window))
    assert pred.probabilities.shape == (3, 120, 170) and pred.probabilities.dtype == np.float32
    np.testing.assert_allclose(pred.probabilities.sum(0), 1.0, atol=1e-5)
    assert pred.entropy.min() >= 0 and pred.entropy.max() <= math.log(3) + 1e-5
    np.testing.assert_array_equal(pred.labels, pred.probabilities.argmax(0))


def test_tta_differs_slightly(unet: torch.nn.Module) -> None:
    image = _noise(130, 150)
    plain = predict_image(unet, image, CFG).probabilities
    tta = predict_image(unet, image, replace(CFG, tta=True)).probabilities
    np.testing.assert_allclose(tta.sum(0), 1.0, atol=1e-5)
    assert 1e-5 < np.abs(tta - plain).mean() < 0.1


def test_banner_is_background_and_certain(unet: torch.nn.Module) -> None:
    sample = generate(SyntheticConfig(height=256, width=320), seed=3)
    pred = predict_image(unet, sample.image, CFG, progress=True)
    assert pred.banner is not None and pred.banner.height > 0
    rows, cols = pred.banner.slices
    assert not pred.labels[rows, cols].any() and not pred.entropy[rows, cols].any()
    assert (pred.probabilities[0, rows, cols] == 1).all()
    assert pred.entropy[: pred.banner.y0].max() > 0


def test_multichannel_input() -> None:
    image = np.stack([_noise(100, 140, seed=1), _noise(100, 140, seed=2)])
    pred = predict_image(_unet(in_channels=2), image, CFG)
    assert pred.labels.shape == (100, 140) and pred.probabilities.shape == (2, 100, 140)


def test_bad_configs_raise() -> None:
    with pytest.raises(ValueError, match="hann, gaussian, constant"):
        PredictConfig(window="cosine")
    with pytest.raises(ValueError):
        PredictConfig(tile=64, overlap=64)
    with pytest.raises(ValueError, match="shape"):
        predict_image(_conv_net(), _noise(50, 60), CFG, state=fit(_noise(60, 50)))


def test_downsampled_prediction_is_the_model_prediction_upsampled(unet, tmp_path):
    """With downsample=2 the model runs on 2x2 block means; its labels come back at full image size."""
    from ml.preprocess import PreprocessConfig, PreprocessState

    image = generate(SyntheticConfig(height=150, width=230), seed=5).image
    ds = PreprocessConfig(downsample=2)
    full = predict_image(unet, image, CFG, ds)
    state = fit(image, ds)
    assert full.labels.shape == image.shape and state.model_shape == (75, 115)
    small = apply(image, state)  # the downsampled, normalised image the model sees
    identity = PreprocessState(small.shape, (0.0,), (1.0,), None)
    reference = predict_image(unet, small, CFG, state=identity)
    upsampled = reference.labels.repeat(2, 0).repeat(2, 1)[:150, :230]
    # model rows 0..39 see only the first window row (starts -8 and 40); below, padding past the bottom is
    # reflected at image resolution about the banner in one path and at model resolution in the other
    assert np.array_equal(full.labels[:80], upsampled[:80])
    assert (full.labels[state.banner.slices] == 0).all()
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, image, tile=(64, 64))
    predict_tiff(unet, src, tmp_path / "out.tif", CFG, ds)
    assert np.array_equal(tifffile.imread(tmp_path / "out.tif"), full.labels)
