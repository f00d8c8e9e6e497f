"""Seeded synthetic serial-section stacks (PFIB-SEM of cement-like material), two detectors, exact phase labels.

The volume holds a matrix (label 0) and three phases (1 pore, 2 clinker, 3 portlandite) from thresholded smooth
3-D noise, so every phase continues from slice to slice (smoothing ``sigma_z`` slices deep). Each slice is seen by
two detectors, each with its own grey level per phase:

- ``inchamber`` (secondary electrons): pore dark, portlandite bright, clinker only ``weak`` above the matrix;
- ``inlens`` (through-the-lens, compositional): pore dark, clinker bright, portlandite only ``weak`` above it.

One detector therefore tells one pair of phases apart only by a weak contrast under strong noise, the other one
clearly: the second detector carries information. Noise, curtaining (stripes at an angle that drifts through the
stack, new stripes each slice) and charging (bright blobs with scan streaks, mostly on the in-chamber detector)
are drawn independently for every slice, while the phases barely change from one slice to the next: neighbouring
slices average them out, so they carry information too. A fixed detector-response gradient (another direction
per detector) spans every slice.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

GENERATOR_VERSION = "1"
DETECTORS = ("inchamber", "inlens")
PHASES = ("pore", "clinker", "portlandite")  # labels 1..3; 0 is the matrix
# grey level of matrix, pore, clinker, portlandite before ``weak`` is added (index 0..3)
_LEVELS = {"inchamber": (0.45, 0.15, 0.45, 0.78), "inlens": (0.40, 0.10, 0.80, 0.40)}
_WEAK_PHASE = {"inchamber": 2, "inlens": 3}  # the phase that detector sees only ``weak`` above the matrix
_CHARGING_GAIN = {"inchamber": 1.0, "inlens": 0.3}


@dataclass(frozen=True)
class StackConfig:
    slices: int = 24
    height: int = 192
    width: int = 192
    sigma_xy: float = 6.0  # px, size of the phase regions
    sigma_z: float = 3.0  # slices: how slowly the phases change through the stack
    weak: float = 0.07  # grey-level step of the phase a detector hardly sees
    noise: float = 0.16  # gaussian noise, independent per pixel, slice and detector
    curtaining: float = 0.08  # stripe amplitude
    charging: float = 0.25  # peak of a charging blob
    gradient: float = 0.15  # detector-response ramp across the field
    blur: float = 0.8  # px, the beam's point spread

    def __post_init__(self) -> None:
        if min(self.slices, self.height, self.width) < 1 or min(self.height, self.width) < 16:
            raise ValueError(f"a stack needs >= 1 slice of >= 16 x 16 px, got {self.slices} x {self.height} x "
                             f"{self.width}")
        if min(self.sigma_xy, self.sigma_z, self.weak, self.noise, self.curtaining, self.charging, self.gradient,
               self.blur) < 0:
            raise ValueError("StackConfig's sigmas and strengths must be >= 0")


@dataclass(frozen=True)
class SyntheticStack:
    detectors: dict[str, np.ndarray]  # name -> (S, H, W) uint8
    labels: np.ndarray  # (S, H, W) uint8, 0 matrix, 1..3 PHASES
    meta: dict


def _field(rng: np.random.Generator, cfg: StackConfig, scale: float = 1.0) -> np.ndarray:
    shape = (cfg.slices, cfg.height, cfg.width)
    f = ndimage.gaussian_filter(rng.standard_normal(shape), (cfg.sigma_z * scale, cfg.sigma_xy * scale,
                                                             cfg.sigma_xy * scale), mode="wrap")
    return (f - f.mean()) / (f.std() + 1e-12)


def phase_volume(rng: np.random.Generator, cfg: StackConfig) -> np.ndarray:
    """(S, H, W) labels: pores and clinker as large smooth regions, portlandite as smaller bodies."""
    pore, clinker, portlandite = _field(rng, cfg), _field(rng, cfg), _field(rng, cfg, 0.6)
    labels = np.zeros(pore.shape, np.uint8)
    labels[clinker > 0.5] = 2
    labels[portlandite > 0.9] = 3
    labels[pore > 1.0] = 1
    return labels


def _curtains(rng: np.random.Generator, cfg: StackConfig, angle: float) -> np.ndarray:
    """Stripes along ``angle`` (degrees from vertical): a random profile across them, fading down the slice."""
    yy, xx = np.mgrid[0:cfg.height, 0:cfg.width].astype(np.float32)
    a = np.deg2rad(angle)
    across = xx * np.cos(a) - yy * np.sin(a)
    n = int(np.ptp(across)) + 8
    profile = ndimage.gaussian_filter1d(rng.standard_normal(n), 1.5)
    profile /= np.abs(profile).max() + 1e-12
    stripes = np.interp(across - across.min(), np.arange(n), profile)
    return cfg.curtaining * stripes * (1.2 - 0.6 * yy / cfg.height)


def _charging(rng: np.random.Generator, cfg: StackConfig) -> np.ndarray:
    """A few bright blobs, each dragging a streak along its scan line to the right."""
    out = np.zeros((cfg.height, cfg.width), np.float32)
    yy, xx = np.mgrid[0:cfg.height, 0:cfg.width]
    for _ in range(rng.integers(0, 4)):
        cy, cx, r = rng.uniform(0, cfg.height), rng.uniform(0, cfg.width), rng.uniform(3, 10)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        streak = np.exp(-((yy - cy) ** 2) / (2 * (r / 3) ** 2)) * (xx > cx) * np.exp(-(xx - cx) / (4 * r))
        out += cfg.charging * (blob + 0.5 * streak)
    return out


def _gradient(rng: np.random.Generator, cfg: StackConfig) -> np.ndarray:
    a = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:cfg.height, 0:cfg.width] / max(cfg.height, cfg.width)
    ramp = np.cos(a) * xx + np.sin(a) * yy
    return cfg.gradient * (ramp - ramp.mean()) / (np.ptp(ramp) + 1e-12) * 2


def render(rng: np.random.Generator, cfg: StackConfig, labels: np.ndarray, detector: str,
           curtains: list[np.ndarray]) -> np.ndarray:
    """One detector's (S, H, W) uint8 view of the labels: levels, blur, curtains, charging, gradient, noise."""
    levels = np.array(_LEVELS[detector], np.float32)
    levels[_WEAK_PHASE[detector]] = levels[0] + cfg.weak
    ramp = _gradient(rng, cfg)
    out = np.empty(labels.shape, np.uint8)
    for k in range(labels.shape[0]):
        img = ndimage.gaussian_filter(levels[labels[k]], cfg.blur) if cfg.blur else levels[labels[k]]
        img = img + curtains[k] + _CHARGING_GAIN[detector] * _charging(rng, cfg) + ramp
        img = img + cfg.noise * rng.standard_normal(img.shape)
        out[k] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return out


def generate_stack(cfg: StackConfig = StackConfig(), seed: int = 0) -> SyntheticStack:
    rng = np.random.default_rng(seed)
    labels = phase_volume(rng, cfg)
    start, drift = rng.uniform(-15, 15), rng.uniform(-1.5, 1.5)
    angles = [start + drift * k + rng.normal(0, 2) for k in range(cfg.slices)]
    curtains = [_curtains(rng, cfg, a) for a in angles]  # the milling's topography: both detectors see it
    images = {d: render(rng, cfg, labels, d, curtains) for d in DETECTORS}
    meta = {"seed": seed, "generator_version": GENERATOR_VERSION, "config": asdict(cfg), "phases": list(PHASES),
            "curtain_angles_deg": [round(a, 2) for a in angles]}
    return SyntheticStack(images, labels, meta)


def write_stack(out: Path, stack: SyntheticStack) -> dict[str, Path]:
    """``out/<detector>.tif`` (one page a slice), ``out/labels.tif`` and ``out/stack.json``; the paths by name."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.tif" for name in (*stack.detectors, "labels")}
    for name, volume in (*stack.detectors.items(), ("labels", stack.labels)):
        tifffile.imwrite(paths[name], volume, photometric="minisblack", compression="zlib")
    (out / "stack.json").write_text(json.dumps(stack.meta, indent=1))
    return paths
