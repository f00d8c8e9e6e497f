"""Seeded multi-modal image pairs of one grain field with a known misalignment: a backscatter (BSE) image and
element maps (EDS) of the same grains, the maps moved by a known shift, rotation and scale.

A field of grains of several phases (``ml.synthetic.generate`` at ``supersample`` times the image size) is
rendered twice. The backscatter image gives each phase its own grey level (mean atomic number), with a little
grain-to-grain spread, a slight blur and noise. Each element map gives each phase that element's abundance
(``COMPOSITION``: a phase bright in one map is dark or absent in another, so the maps and the backscatter image
share edges but not intensities, and no map is a monotonic function of the backscatter level), then the element
maps are blurred more (the X-ray interaction volume) and counted (Poisson noise at ``counts`` per unit
abundance). The element maps are rendered through the inverse of ``truth``, so ``ml.register.warp(map, truth)``
lies on the backscatter image; everything is then integrated over supersample x supersample pixels, so shifts
are real sub-pixel offsets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ml.register import Transform, warp
from ml.synthetic import SyntheticConfig, generate

ELEMENTS = ("Si", "Fe", "Ca", "Al")
PHASES = ("quartz", "plagioclase", "iron-oxide", "lithic")  # phases 1..4 of the class map
# abundance of each element (columns) in the substrate (row 0) and phases 1..4 (rows 1..)
COMPOSITION = np.array([
    [0.00, 0.00, 0.05, 0.00],  # substrate (carbon tape: a little Ca contamination)
    [1.00, 0.00, 0.00, 0.00],  # quartz
    [0.55, 0.10, 0.90, 0.50],  # plagioclase-like: Ca, Al and some Si
    [0.10, 1.00, 0.00, 0.05],  # iron oxide
    [0.45, 0.35, 0.45, 0.40],  # a mixed lithic phase
])
BSE_LEVELS = np.array([0.10, 0.45, 0.60, 0.95, 0.52])  # backscatter grey level of substrate and phases


@dataclass(frozen=True)
class PairConfig:
    size: int = 192  # image side (px)
    supersample: int = 3  # fine pixels per image pixel, each way
    phases: int = 4  # grain phases, at most len(COMPOSITION) - 1
    grains: tuple[int, int] = (35, 55)
    radius: tuple[float, float] = (5.0, 22.0)  # grain radius in image px
    max_shift: float = 6.0  # px, each axis
    max_angle: float = 3.0  # degrees
    scale: tuple[float, float] = (0.95, 1.05)
    bse_noise: float = 0.03
    map_blur: float = 1.2  # px (image pixels) of the element maps' blur
    counts: float = 40.0  # X-ray counts per pixel at abundance 1

    def __post_init__(self) -> None:
        if not 1 <= self.phases < len(COMPOSITION) or self.size < 32 or self.supersample < 1:
            raise ValueError(f"need 1 <= phases <= {len(COMPOSITION) - 1}, size >= 32, supersample >= 1: {self}")


@dataclass(frozen=True)
class SyntheticPair:
    reference: np.ndarray  # (H, W) float backscatter image
    moving: np.ndarray  # (E, H, W) float element maps, in ELEMENTS order, misaligned by truth
    truth: Transform  # brings the element maps onto the backscatter image
    class_map: np.ndarray  # (H, W) phase of each pixel of the backscatter frame (0 = substrate)
    instance_map: np.ndarray  # (H, W) grain ids of the backscatter frame


def inverse(t: Transform) -> Transform:
    """The similarity transform that undoes ``t`` (about the same centre)."""
    a = np.deg2rad(t.angle_deg)
    back = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) @ [t.dy, t.dx] / t.scale
    return Transform(-float(back[0]), -float(back[1]), -t.angle_deg, scale=1.0 / t.scale)


def _bin(image: np.ndarray, k: int) -> np.ndarray:
    h, w = image.shape[0] // k, image.shape[1] // k
    return image[: h * k, : w * k].reshape(h, k, w, k).mean(axis=(1, 3))


def _draw_truth(rng: np.random.Generator, cfg: PairConfig) -> Transform:
    return Transform(float(rng.uniform(-cfg.max_shift, cfg.max_shift)), float(rng.uniform(-cfg.max_shift,
                     cfg.max_shift)), float(rng.uniform(-cfg.max_angle, cfg.max_angle)),
                     scale=float(np.exp(rng.uniform(*np.log(cfg.scale)))))


def _fine(t: Transform, k: int) -> Transform:
    return Transform(t.dy * k, t.dx * k, t.angle_deg, scale=t.scale)


def synthetic_pair(seed: int, cfg: PairConfig = PairConfig(), truth: Transform | None = None) -> SyntheticPair:
    """One backscatter image and its element maps moved by ``truth`` (drawn from the config's ranges if None)."""
    rng = np.random.default_rng(seed)
    truth = truth if truth is not None else _draw_truth(rng, cfg)
    k, side = cfg.supersample, cfg.size * cfg.supersample
    scene = generate(SyntheticConfig(height=side, width=side, grains=cfg.grains, n_classes=cfg.phases,
                                     radius=(cfg.radius[0] * k, cfg.radius[1] * k), noise=0.0, curtaining=0.0,
                                     banner=False, pixel_size_um=None), seed=seed)
    classes, grains = scene.class_map.astype(np.int64), scene.instance_map
    spread = np.concatenate([[0.0], rng.normal(0, 0.03, grains.max())])  # grain-to-grain spread
    bse = ndimage.gaussian_filter(BSE_LEVELS[classes] + spread[grains], 0.6 * k)
    reference = _bin(bse, k) + rng.normal(0, cfg.bse_noise, (cfg.size, cfg.size))
    back = _fine(inverse(truth), k)
    maps = []
    for e in range(len(ELEMENTS)):
        abundance = ndimage.gaussian_filter(COMPOSITION[classes, e], cfg.map_blur * k)
        moved = np.clip(_bin(warp(abundance, back, order=1, mode="constant"), k), 0, None)
        maps.append(rng.poisson(moved * cfg.counts) / cfg.counts)
    return SyntheticPair(reference, np.stack(maps), truth, classes[k // 2::k, k // 2::k],
                         grains[k // 2::k, k // 2::k])
