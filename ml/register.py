"""Co-registration of several images of one field (detector channels, element maps, neighbouring slices).

Shifts are found by sub-pixel phase correlation (``skimage.registration.phase_cross_correlation`` with
``upsample_factor``) on Hann-windowed images; phase correlation whitens the spectrum, so channels with
different contrast (secondary versus backscattered electrons, an element map) still align on shared edges.
A small rotation is optionally found by a search: the moving image is rotated over a grid of angles, then a
finer grid around the best one, keeping the angle with the lowest phase-correlation error.

A ``Transform`` maps the moving image onto the reference: rotate it by ``angle_deg`` counter-clockwise (as
displayed, row 0 at the top) and magnify it by ``scale`` about its centre, then shift it by (``dy``, ``dx``)
pixels (rows down, columns right), in one spline interpolation. Method ``multimodal``
(``ml.register_multimodal``) also finds the scale, for images that share no intensities (element maps and a
backscatter image) taken at slightly different focus. Pixels that come from outside the moving image are filled with its
nearest edge pixel; ``valid_box`` says where every channel holds real data.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import tifffile
from scipy import ndimage
from skimage.filters import window
from skimage.registration import phase_cross_correlation

from ml.box import Box


METHODS = ("phase", "multimodal")  # phase correlation (shift, rotation); similarity by gradient fields


@dataclass(frozen=True)
class RegisterConfig:
    upsample: int = 100  # phase correlation precision: 1 / upsample px
    rotation: bool = False  # also search a small rotation (multimodal: always)
    max_angle: float = 3.0  # degrees searched on each side
    angle_step: float = 0.5  # coarse search step (degrees); the fine step is a tenth of it
    order: int = 3  # spline order of the resampling
    method: str = "phase"  # one of METHODS
    max_scale: float = 0.08  # multimodal: scales within 1 -+ this are searched
    joint: bool = False  # the moving images are maps of one acquisition: one transform from all of them

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown registration method {self.method!r}; valid: {', '.join(METHODS)}")
        if self.upsample < 1 or self.angle_step <= 0 or self.max_angle < 0 or not 0 <= self.order <= 5:
            raise ValueError(f"need upsample >= 1, angle_step > 0, max_angle >= 0, 0 <= order <= 5: {self}")
        if not 0 <= self.max_scale < 0.5:
            raise ValueError(f"need 0 <= max_scale < 0.5: {self.max_scale}")


@dataclass(frozen=True)
class Transform:
    dy: float = 0.0
    dx: float = 0.0
    angle_deg: float = 0.0
    error: float = float("nan")  # phase-correlation error (multimodal: 1 - gradient-field match; 0 = perfect)
    scale: float = 1.0  # magnification of the moving image about its centre

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}


def _grey(image: np.ndarray) -> np.ndarray:
    """A 2-D float image: (H, W) as is, (C, H, W) averaged over channels."""
    image = np.asarray(image, np.float64)
    return image.mean(0) if image.ndim == 3 else image


def warp(image: np.ndarray, t: Transform, order: int = 3, mode: str = "nearest", cval: float = 0.0,
         prefilter: bool = True) -> np.ndarray:
    """The (H, W) image rotated by t.angle_deg and magnified by t.scale about its centre, then shifted by
    (t.dy, t.dx); float64. ``prefilter=False``: ``image`` already holds spline coefficients
    (``scipy.ndimage.spline_filter`` of the same order and mode), for many warps of one image."""
    a = np.deg2rad(t.angle_deg)
    inverse = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) / t.scale
    centre = (np.asarray(image.shape, np.float64) - 1) / 2
    offset = centre - inverse @ (centre + [t.dy, t.dx])
    return ndimage.affine_transform(np.asarray(image, np.float64), inverse, offset, order=order, mode=mode,
                                    cval=cval, prefilter=prefilter)


def _correlate(reference: np.ndarray, moving: np.ndarray, upsample: int) -> tuple[np.ndarray, float]:
    hann = window("hann", reference.shape)  # on mean-free images, else the window itself correlates at shift 0
    ref, mov = (reference - reference.mean()) * hann, (moving - moving.mean()) * hann
    shift, error, _ = phase_cross_correlation(ref, mov, upsample_factor=upsample, normalization=None)
    return np.asarray(shift, np.float64), float(error)


def _best_angle(reference: np.ndarray, moving: np.ndarray, angles: np.ndarray) -> float:
    """The angle of least correlation error, refined by the vertex of a parabola through its neighbours."""
    errors = np.array([_correlate(reference, warp(moving, Transform(angle_deg=a), order=1), 10)[1] for a in angles])
    i = int(np.clip(np.argmin(errors), 1, len(angles) - 2))
    e0, e1, e2 = errors[i - 1: i + 2]
    curvature = e0 - 2 * e1 + e2
    step = (e0 - e2) / (2 * curvature) if curvature > 0 else 0.0
    return float(angles[i] + np.clip(step, -1, 1) * (angles[1] - angles[0]))


def estimate_rotation(reference: np.ndarray, moving: np.ndarray, cfg: RegisterConfig = RegisterConfig()) -> float:
    """The angle (degrees, within +-max_angle) that best aligns moving with reference: coarse, then fine grid."""
    # smoothed first, so that the blur of linear interpolation does not favour angles other than 0
    reference, moving = ndimage.gaussian_filter(reference, 1.0), ndimage.gaussian_filter(moving, 1.0)
    coarse = np.arange(-cfg.max_angle, cfg.max_angle + 1e-9, cfg.angle_step)
    best = _best_angle(reference, moving, coarse)
    fine = best + np.arange(-cfg.angle_step, cfg.angle_step + 1e-9, cfg.angle_step / 10)
    return _best_angle(reference, moving, fine)


def estimate(reference: np.ndarray, moving: np.ndarray, cfg: RegisterConfig = RegisterConfig()) -> Transform:
    """The Transform that brings ``moving`` onto ``reference`` ((H, W) or (C, H, W), same size)."""
    ref, mov = _grey(reference), _grey(moving)
    if ref.shape != mov.shape:
        raise ValueError(f"images to register differ in size: {ref.shape} and {mov.shape}")
    if cfg.method == "multimodal":
        from ml.register_multimodal import estimate_multimodal  # it builds on this module

        return estimate_multimodal(ref, np.asarray(moving, np.float64), cfg)
    angle = estimate_rotation(ref, mov, cfg) if cfg.rotation else 0.0
    rotated = warp(mov, Transform(angle_deg=angle), cfg.order) if angle else mov
    shift, error = _correlate(ref, rotated, cfg.upsample)
    return Transform(float(shift[0]), float(shift[1]), angle, error)


def _apply(image: np.ndarray, t: Transform, order: int) -> np.ndarray:
    """Every channel of a (C, H, W) image warped, rounded and clipped back to its dtype."""
    out = np.stack([warp(ch, t, order) for ch in image])
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(image.dtype)


def valid_box(shape: tuple[int, int], transforms: Sequence[Transform]) -> Box:
    """The largest box (shrunk side by side from the full image) where every warped image holds real data."""
    valid = np.ones(shape, bool)
    for t in transforms:
        valid &= warp(np.ones(shape), t, order=0, mode="constant") > 0.5
    y0, y1, x0, x1 = 0, shape[0], 0, shape[1]
    while y1 > y0 and x1 > x0 and not valid[y0:y1, x0:x1].all():
        sides = [(~valid[y0, x0:x1]).sum(), (~valid[y1 - 1, x0:x1]).sum(),
                 (~valid[y0:y1, x0]).sum(), (~valid[y0:y1, x1 - 1]).sum()]
        side = int(np.argmax(sides))
        y0, y1, x0, x1 = y0 + (side == 0), y1 - (side == 1), x0 + (side == 2), x1 - (side == 3)
    return Box(y0, y1, x0, x1)


def on_grid(image: np.ndarray, shape: tuple[int, int], cfg: RegisterConfig) -> np.ndarray:
    """A (C, H, W) image as is when it is (H, W) = ``shape``; else, for method multimodal, resampled (linear)
    so that its field spans ``shape`` pixels."""
    if tuple(image.shape[-2:]) == tuple(shape):
        return image
    if cfg.method != "multimodal":
        raise ValueError(f"images to register differ in size: {tuple(shape)} and {image.shape[-2:]} (method "
                         "multimodal resamples images of another pixel count)")
    zoom = (shape[0] / image.shape[-2], shape[1] / image.shape[-1])
    return np.stack([ndimage.zoom(np.asarray(ch, np.float32), zoom, order=1, mode="nearest", grid_mode=True)
                     for ch in image])


def register_stack(reference: np.ndarray, movings: Sequence[np.ndarray],
                   cfg: RegisterConfig = RegisterConfig()) -> tuple[np.ndarray, list[Transform]]:
    """(C, H, W) images: the reference's channels first, then each moving image's, aligned to the reference
    (with ``cfg.joint``, all by the one transform estimated from all their channels together). With method
    multimodal, a moving image of another pixel count (element maps are often coarser) is first resampled onto
    the reference's grid, as a view of the same field (float32), and its transform is on that grid."""
    movings = [on_grid(m, reference.shape[-2:], cfg) for m in movings]
    if cfg.joint and movings:
        transforms = [estimate(reference, np.concatenate([np.asarray(m, np.float64) for m in movings]), cfg)]
        transforms *= len(movings)
    else:
        transforms = [estimate(reference, m, cfg) for m in movings]
    parts = [reference] + [_apply(m, t, cfg.order) for m, t in zip(movings, transforms)]
    dtype = np.result_type(*(p.dtype for p in parts))
    return np.concatenate([p.astype(dtype, copy=False) for p in parts]), transforms


def write_stack(path: Path, stack: np.ndarray, record: dict) -> tuple[Path, Path]:
    """A multi-channel TIFF (C channels as samples of each pixel, which ``ml.io.read_image`` returns as
    (C, H, W)) and ``<path>.json`` with ``record`` (the shifts, files, settings)."""
    if stack.shape[0] == 4:
        raise ValueError("a 4-channel stack cannot be written yet: ml.io.read_image reads a 4th sample as alpha "
                         "and drops it; register 1, 2, 3 or 5+ channels")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.moveaxis(stack, 0, -1) if stack.shape[0] > 1 else stack[0]
    tifffile.imwrite(path, data, photometric="minisblack", planarconfig="contig" if stack.shape[0] > 1 else None,
                     description=json.dumps({"channels": int(stack.shape[0])}), compression="zlib")
    side = path.with_suffix(".json")
    side.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return path, side
