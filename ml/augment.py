"""Training augmentation: albumentations geometry/photometry plus simulated SEM artifacts.

Images are float32 (H, W, C) in [0, 1]; masks are (H, W) integer class maps.
Geometric transforms move image and mask together (mask by nearest neighbour,
borders reflected for both); photometric transforms and the SEM artifacts
(curtaining, charging, detector gradient, defocus) touch the image only.
All randomness comes from one ``np.random.Generator`` (shared with the
albumentations pipelines) that ``Augmenter.reseed`` resets.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

Artifact = Callable[[np.ndarray, np.random.Generator], np.ndarray]
_BORDER = cv2.BORDER_REFLECT_101


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths; the last block of floats are probabilities."""

    enabled: bool = True
    flips: bool = True
    rotate90: bool = True
    rotate_degrees: float = 15.0
    shift: float = 0.05  # fraction of the image size
    shear_degrees: float = 5.0
    zoom: float = 0.3  # scale in [1 - zoom, 1 + zoom]
    brightness: float = 0.15
    contrast: float = 0.15
    gamma: tuple[float, float] = (0.8, 1.25)
    gaussian_noise: float = 0.03  # max std, in intensity units
    poisson_noise: float = 0.3  # probability
    curtaining: float = 0.3  # probability
    charging: float = 0.3  # probability
    gradient: float = 0.3  # probability
    defocus: float = 0.2  # probability
    p_geometric: float = 0.7  # probability of the affine (rotate/shift/shear/zoom)
    invert: float = 0.0  # probability of 1 - intensity: grains bright with one detector are dark with another


def _finish(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)


def _projection(h: int, w: int, angle: float) -> np.ndarray:
    """(H, W) coordinate of each pixel along direction ``angle`` (radians), starting at 0."""
    ys, xs = np.ogrid[:h, :w]
    t = xs * np.cos(angle) + ys * np.sin(angle)
    return t - t.min()


def _gaussian(n: int, centre: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((np.arange(n) - centre) / sigma) ** 2)


def curtaining(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Additive stripes along a random angle: a smoothed random 1-D profile swept across the image."""
    h, w = image.shape[:2]
    t = _projection(h, w, rng.uniform(0.0, np.pi))
    profile = gaussian_filter1d(rng.normal(size=int(t.max()) + 2), sigma=rng.uniform(0.7, 3.0))
    profile *= rng.uniform(0.03, 0.12) / (np.abs(profile).max() + 1e-8)
    stripes = np.interp(t, np.arange(profile.size), profile)
    return _finish(image + stripes[..., None].astype(np.float32))


def charging(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bright blooming: a few gaussian spots plus one horizontal streak smeared along the scan."""
    h, w = image.shape[:2]
    glow = np.zeros((h, w), dtype=np.float64)
    for _ in range(rng.integers(1, 4)):
        sigma = rng.uniform(0.02, 0.08) * min(h, w)
        spot = np.outer(_gaussian(h, rng.uniform(0, h), sigma), _gaussian(w, rng.uniform(0, w), sigma))
        glow += rng.uniform(0.1, 0.4) * spot
    x0 = rng.uniform(0, w)
    tail = np.exp(-np.maximum(np.arange(w) - x0, 0) / rng.uniform(0.1, 0.5) / w) * (np.arange(w) >= x0)
    glow += rng.uniform(0.1, 0.3) * np.outer(_gaussian(h, rng.uniform(0, h), rng.uniform(1.0, 4.0)), tail)
    return _finish(image + glow[..., None].astype(np.float32))


def detector_gradient(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative gain per channel: a linear ramp plus a radial fall-off."""
    h, w, c = image.shape
    ys, xs = np.ogrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    ys, xs = ys[..., None].astype(np.float32), xs[..., None].astype(np.float32)
    angle = rng.uniform(0.0, 2 * np.pi)
    slope, fall = rng.uniform(-0.25, 0.25, size=c), rng.uniform(0.0, 0.2, size=c)
    gain_x = (np.cos(angle) * slope * xs - fall * xs**2 / 2).astype(np.float32)
    gain_y = (np.sin(angle) * slope * ys - fall * ys**2 / 2 + 1.0).astype(np.float32)
    return _finish(image * (gain_x + gain_y))


def defocus(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Slight defocus: gaussian blur with sigma in [0.5, 1.5] px."""
    sigma = rng.uniform(0.5, 1.5)
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=_BORDER)
    return _finish(blurred.reshape(image.shape))


def poisson_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Signal-dependent shot noise, 30-300 electrons per unit intensity (Gaussian approximation)."""
    per_electron = np.float32(1.0 / np.exp(rng.uniform(np.log(30.0), np.log(300.0))))
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    return _finish(image + noise * np.sqrt(np.maximum(image, 0.0) * per_electron))


def _affine(cfg: AugmentConfig) -> list[A.BasicTransform]:
    if not (cfg.rotate_degrees or cfg.shift or cfg.shear_degrees or cfg.zoom) or cfg.p_geometric <= 0:
        return []
    affine = A.Affine(
        scale=(1.0 - cfg.zoom, 1.0 + cfg.zoom),
        keep_ratio=True,
        translate_percent=(-cfg.shift, cfg.shift),
        rotate=(-cfg.rotate_degrees, cfg.rotate_degrees),
        shear=(-cfg.shear_degrees, cfg.shear_degrees),
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST,
        border_mode=_BORDER,
        p=cfg.p_geometric,
    )
    return [affine]


def _geometric(cfg: AugmentConfig, square: bool) -> A.Compose:
    """Flips, 90-degree turns (square images only, so the shape is kept), then the affine."""
    flips = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)] if cfg.flips else []
    turns = [A.RandomRotate90(p=1.0)] if cfg.rotate90 and square else []
    return A.Compose([*flips, *turns, *_affine(cfg)])


def _photometric(cfg: AugmentConfig) -> A.Compose:
    """Gamma, brightness/contrast, then additive Gaussian noise."""
    steps: list[A.BasicTransform] = []
    if cfg.gamma != (1.0, 1.0):
        steps.append(A.RandomGamma(gamma_limit=(cfg.gamma[0] * 100, cfg.gamma[1] * 100), p=0.5))
    if cfg.brightness or cfg.contrast:
        steps.append(A.RandomBrightnessContrast(cfg.brightness, cfg.contrast, p=0.5))
    if cfg.gaussian_noise > 0:
        steps.append(A.GaussNoise(std_range=(0.0, cfg.gaussian_noise), p=0.5))
    return A.Compose(steps)


def _artifacts(cfg: AugmentConfig) -> list[tuple[float, Artifact]]:
    """(probability, function) in physical order: sample, optics, detector."""
    sample = [(cfg.charging, charging), (cfg.curtaining, curtaining), (cfg.defocus, defocus)]
    detector = [(cfg.gradient, detector_gradient), (cfg.poisson_noise, poisson_noise)]
    return [(p, fn) for p, fn in [*sample, *detector] if p > 0]


def _mask_work_dtype(mask: np.ndarray) -> type:
    """A dtype OpenCV warps exactly (uint8 when the labels fit, else int32)."""
    fits = mask.size == 0 or (mask.min() >= 0 and mask.max() <= 255)
    return np.uint8 if fits else np.int32


class Augmenter:
    """Reproducible image/mask augmentation; call ``reseed`` to restart the random stream."""

    def __init__(self, cfg: AugmentConfig, seed: int = 0) -> None:
        self.cfg = cfg
        self._square, self._rect = _geometric(cfg, square=True), _geometric(cfg, square=False)
        self._photo = _photometric(cfg)
        self._artifacts = _artifacts(cfg)
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Reset every random source (albumentations pipelines and artifacts) from ``seed``."""
        # One shared generator: Compose(seed=...) gives each transform its own
        # identically seeded generator, which makes e.g. both flips fire together.
        self._rng = np.random.default_rng(seed)
        py_random = random.Random(seed)
        for pipeline in (self._square, self._rect, self._photo):
            pipeline.set_random_state(self._rng, py_random)

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Augment a float32 (H, W, C) image in [0, 1] and its (H, W) mask."""
        if not self.cfg.enabled:
            return image, mask
        if image.ndim != 3 or mask.shape != image.shape[:2]:
            raise ValueError(f"expected image (H, W, C) and mask (H, W), got {image.shape} and {mask.shape}")
        image, moved = self._geometry(image.astype(np.float32, copy=False), mask)
        if self.cfg.invert and self._rng.random() < self.cfg.invert:  # before the artifacts: charging stays bright
            image = 1.0 - image
        for p, artifact in self._artifacts:
            if self._rng.random() < p:
                image = artifact(image, self._rng)
        image = self._photo(image=image)["image"]
        return _finish(image), moved.astype(mask.dtype, copy=False)

    def _geometry(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pipeline = self._square if image.shape[0] == image.shape[1] else self._rect
        out = pipeline(image=image, mask=mask.astype(_mask_work_dtype(mask), copy=False))
        return out["image"], out["mask"]
