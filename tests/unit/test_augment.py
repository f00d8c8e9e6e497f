"""Tests for ml.augment."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from ml.augment import (
    AugmentConfig,
    Augmenter,
    charging,
    curtaining,
    defocus,
    detector_gradient,
    poisson_noise,
)

ARTIFACTS = [curtaining, charging, detector_gradient, defocus, poisson_noise]
GEOMETRY_ONLY = AugmentConfig(
    brightness=0.0, contrast=0.0, gamma=(1.0, 1.0), gaussian_noise=0.0, poisson_noise=0.0,
    curtaining=0.0, charging=0.0, gradient=0.0, defocus=0.0, p_geometric=1.0,
)
LEVELS = np.array([0.1, 0.5, 0.9], dtype=np.float32)


def _blocky_mask(seed: int = 0, shape: tuple[int, int] = (64, 64), labels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, labels, (shape[0] // 16, shape[1] // 16))
    return np.kron(coarse, np.ones((16, 16), dtype=np.int64))


def _image(channels: int = 1, shape: tuple[int, int] = (64, 64), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.2 + 0.6 * rng.random((*shape, channels))).astype(np.float32)


def _run(aug: Augmenter, image: np.ndarray, mask: np.ndarray, n: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    return [aug(image, mask) for _ in range(n)]


def test_same_seed_same_stream_and_reseed_replays() -> None:
    image, mask = _image(), _blocky_mask()
    first = _run(Augmenter(AugmentConfig(), seed=7), image, mask)
    twin = Augmenter(AugmentConfig(), seed=7)
    for _ in range(2):  # a fresh twin, then the same object after reseed
        for (a_img, a_mask), (b_img, b_mask) in zip(first, _run(twin, image, mask)):
            np.testing.assert_array_equal(a_img, b_img)
            np.testing.assert_array_equal(a_mask, b_mask)
        twin.reseed(7)


def test_different_seed_different_stream() -> None:
    image, mask = _image(), _blocky_mask()
    a = _run(Augmenter(AugmentConfig(), seed=1), image, mask)
    b = _run(Augmenter(AugmentConfig(), seed=2), image, mask)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, b))


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_output_contract_and_label_set(dtype: type) -> None:
    image, mask = _image(), _blocky_mask().astype(dtype)
    mask[:8] = 255  # info banner
    aug = Augmenter(AugmentConfig(), seed=3)
    for out, out_mask in _run(aug, image, mask, n=8):
        assert out.shape == image.shape and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
        assert out_mask.shape == mask.shape and out_mask.dtype == mask.dtype
        assert set(np.unique(out_mask)) <= set(np.unique(mask))


def test_geometry_keeps_image_and_mask_aligned() -> None:
    mask = _blocky_mask(seed=5)
    image = LEVELS[mask][..., None]
    aug = Augmenter(GEOMETRY_ONLY, seed=0)
    moved = 0
    for out, out_mask in _run(aug, image, mask, n=10):
        moved += not np.array_equal(out_mask, mask)
        # Away from label edges (and the frame) the bilinear image equals the nearest-neighbour mask's level.
        uniform = ndimage.maximum_filter(out_mask, 3) == ndimage.minimum_filter(out_mask, 3)
        agree = np.abs(out[..., 0] - LEVELS[out_mask]) < 1e-4
        assert agree[2:-2, 2:-2][uniform[2:-2, 2:-2]].all()
    assert moved >= 8


def test_reflected_borders_introduce_no_new_values() -> None:
    mask = _blocky_mask(seed=1, labels=2) + 1  # labels {1, 2}: a constant 0 fill would show up
    image = _image(seed=1)
    aug = Augmenter(GEOMETRY_ONLY, seed=4)
    for out, out_mask in _run(aug, image, mask, n=10):
        assert set(np.unique(out_mask)) <= {1, 2}
        assert out.min() >= image.min() - 1e-6 and out.max() <= image.max() + 1e-6


def test_single_flips_happen_independently() -> None:
    cfg = replace(GEOMETRY_ONLY, rotate90=False, p_geometric=0.0)
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1) / 16
    aug = Augmenter(cfg, seed=0)
    variants = {image[::-1].tobytes(), image[:, ::-1].tobytes(), image[::-1, ::-1].tobytes(), image.tobytes()}
    seen = {aug(image, np.zeros((4, 4), np.uint8))[0].tobytes() for _ in range(40)}
    assert seen == variants


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("artifact", ARTIFACTS, ids=lambda f: f.__name__)
def test_artifact_changes_image_and_keeps_contract(artifact, channels: int) -> None:
    image = _image(channels)
    before = image.copy()
    out = artifact(image, np.random.default_rng(0))
    np.testing.assert_array_equal(image, before)  # input untouched
    assert out.shape == image.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert np.abs(out - image).mean() > 1e-3


@pytest.mark.parametrize("channels", [2, 3])
@pytest.mark.parametrize("shape", [(64, 64), (48, 80)])
def test_multichannel_and_non_square(channels: int, shape: tuple[int, int]) -> None:
    image, mask = _image(channels, shape), _blocky_mask(shape=shape)
    for out, out_mask in _run(Augmenter(AugmentConfig(), seed=9), image, mask):
        assert out.shape == image.shape and out_mask.shape == mask.shape
        assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0


def test_disabled_is_identity() -> None:
    image, mask = _image(), _blocky_mask()
    out, out_mask = Augmenter(AugmentConfig(enabled=False))(image, mask)
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(out_mask, mask)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="expected image"):
        Augmenter(AugmentConfig())(_image(), np.zeros((32, 32), dtype=np.uint8))


def test_invert_turns_bright_grains_dark_for_the_fraction_asked() -> None:
    image, mask = _image(), _blocky_mask()
    still = replace(GEOMETRY_ONLY, p_geometric=0.0, flips=False, rotate90=False)
    always = Augmenter(replace(still, invert=1.0), seed=3)
    out, out_mask = always(image, mask)
    np.testing.assert_allclose(out, 1.0 - image, atol=1e-6)
    np.testing.assert_array_equal(out_mask, mask)
    half = Augmenter(replace(still, invert=0.5), seed=3)
    flipped = [np.allclose(half(image, mask)[0], 1.0 - image, atol=1e-6) for _ in range(200)]
    assert 70 < sum(flipped) < 130
    never = Augmenter(still, seed=3)
    np.testing.assert_array_equal(never(image, mask)[0], image)  # off by default
