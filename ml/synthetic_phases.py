"""Synthetic multi-mineral rock SEM (backscatter) images: 4 phases whose grey levels overlap, told apart by texture.

The ``phases`` mode of the synthetic generator, for the classes of schemas/phases.yaml (mask values 1..4: pore,
quartz, albite, clay-mix; nothing is left unlabelled). Densely packed grains of three minerals sit in a dark pore
space. As in backscattered-electron images of sandstones, quartz and albite differ little in mean atomic number,
and the clay-and-accessories group spreads across both: each grain's grey level is drawn around its mineral's
level with a spread wider than the gaps between them, so a pixel's grey value alone does not say its mineral.
Texture does: quartz is smooth, albite shows twin lamellae (stripes at a per-grain angle), the clay group is
speckled with bright accessory specks. Pores are dark and noisy, some partly filled. Grain layout and outlines
come from ml.synthetic; the same (config, seed) gives the same arrays.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from foundation.choices import check_choice
from ml.synthetic import SyntheticConfig, SyntheticSample, _clean, _layout, image_seed, write_samples

GENERATOR_VERSION = "1"  # bump when the output for a given seed changes
PHASES = ("pore", "quartz", "albite", "clay-mix")  # mask values 1..4, schemas/phases.yaml's order
MODES = ("grains", "phases")  # `grainloop synth --mode`


def check_mode(mode: str) -> str:
    return check_choice(mode, MODES, "synthetic mode")


@dataclass(frozen=True)
class PhasesConfig:
    size: int = 256
    levels: tuple[float, float, float, float] = (0.14, 0.52, 0.60, 0.56)  # mean grey per phase (PHASES order)
    spread: float = 0.05  # per-grain standard deviation around its phase's level (pores: half)
    texture: float = 1.0  # strength of the minerals' textures (0: flat grains, grey level alone)
    noise: float = 0.035  # pixel noise
    pixel_size_um: float | None = 0.5

    def __post_init__(self) -> None:
        if self.size < 32 or min(self.spread, self.texture, self.noise) < 0 or len(self.levels) != len(PHASES):
            raise ValueError(f"invalid PhasesConfig: {self}")

    def layout(self) -> SyntheticConfig:
        """The grain layout: many touching grains of 3 minerals, pore space between them."""
        scale = self.size * self.size / 256**2
        return SyntheticConfig(height=self.size, width=self.size, grains=(round(110 * scale), round(160 * scale)),
                               radius=(6.0, 34.0), elongation=(1.0, 1.8), irregularity=0.3, touching=0.95,
                               n_classes=len(PHASES) - 1, banner=False, pixel_size_um=self.pixel_size_um)


def _field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth zero-mean unit-ish random field from a coarse grid."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def _lamellae(rng: np.random.Generator, inst: np.ndarray) -> np.ndarray:
    """Twin-lamella stripes: a sinusoid of 3-7 px period at each grain's own angle (values -1..1)."""
    n = int(inst.max()) + 1
    ang, period, phase = rng.uniform(0, np.pi, n), rng.uniform(3, 7, n), rng.uniform(0, 2 * np.pi, n)
    ys, xs = np.indices(inst.shape, dtype=np.float32)
    across = xs * np.cos(ang)[inst] + ys * np.sin(ang)[inst]
    return np.sin(2 * np.pi * across / period[inst] + phase[inst]).astype(np.float32)


def _speckle(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fine-grained clay mottling plus sparse bright accessory specks."""
    fine = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 0.8) * 2.0
    specks = cv2.GaussianBlur((rng.random((size, size)) < 0.004).astype(np.float32), (0, 0), 0.7) * 6.0
    return fine + specks


def render(rng: np.random.Generator, cfg: PhasesConfig, inst: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] from the instance map and the per-pixel phase (1..4)."""
    size, t = cfg.size, np.float32(cfg.texture)
    levels = np.asarray(cfg.levels, np.float32)
    grain_level = levels[phase - 1] + rng.normal(0, cfg.spread, int(inst.max()) + 1).astype(np.float32)[inst]
    pore = levels[0] + np.float32(cfg.spread) * 0.5 * _field(rng, size, 8) + 0.04 * np.maximum(_field(rng, size, 24), 0)
    textures = {  # phase value -> texture field
        2: 0.012 * _field(rng, size, max(4, size // 32)),
        3: 0.045 * _lamellae(rng, inst),
        4: 0.03 * _speckle(rng, size),
    }
    img = np.where(phase == 1, pore, grain_level)
    for value, tex in textures.items():
        img = np.where(phase == value, img + t * tex, img)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.6)
    img += np.float32(cfg.noise) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0.0, 1.0)


def generate_phases(cfg: PhasesConfig, seed: int) -> SyntheticSample:
    """One 8-bit image with its class map (1..4, every pixel labelled) and its instance map (grains 1..N)."""
    rng = np.random.default_rng(seed)
    layout = cfg.layout()
    inst, classes = _clean(*_layout(rng, layout, layout.height))
    phase = np.where(inst > 0, classes[inst].astype(np.int64) + 1, 1)
    img = render(rng, cfg, inst, phase)
    meta = {"seed": int(seed), "generator": "ml.synthetic_phases", "generator_version": GENERATOR_VERSION,
            "config": asdict(cfg), "pixel_size_um": cfg.pixel_size_um, "n_grains": int(inst.max()),
            "phases": list(PHASES), "banner": None}
    return SyntheticSample(np.rint(img * 255).astype(np.uint8), phase.astype(np.uint8), inst, None, meta)


def write_phases_dataset(out_dir: Path, n: int, cfg: PhasesConfig, seed: int) -> list[Path]:
    """Write ``n`` phase images (images/, masks/ with values 1..4, instances/) and manifest.json."""
    samples = ((f"phases_{i:04d}", generate_phases(cfg, image_seed(seed, i))) for i in range(n))
    return write_samples(out_dir, samples, {"generator": "ml.synthetic_phases", "generator_version": GENERATOR_VERSION,
                                            "seed": int(seed), "n": int(n), "config": asdict(cfg),
                                            "phases": list(PHASES)})
