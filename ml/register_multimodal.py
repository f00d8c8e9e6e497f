"""Multi-modal registration: a similarity transform (shift, rotation, scale) between images that share edges
but not intensities, such as element (EDS) maps and a backscatter image taken at a slightly different focus.

1. Both images become gradient magnitudes of Gaussian-smoothed copies (each channel of a moving element stack
   scaled to unit mean gradient, then summed): an edge looks the same whichever side is bright.
2. Coarse rotation and scale by Fourier-Mellin: the magnitude spectra of the windowed gradient images, resampled
   on log-polar coordinates (the lowest frequencies left out), differ by a shift (rows: angle, columns: log
   scale) that phase correlation finds.
3. Coarse shift by phase correlation of the gradient images once the moving one is rotated and scaled back.
4. Refinement by maximising the normalised gradient field (NGF) match (Haber and Modersitzki 2006): the mean
   over an inner region of the squared cosine between the two images' gradients, each gradient normalised as
   g / sqrt(|g|^2 + eps^2), so strong and weak edges count alike, either polarity, and flat noisy areas little.
   Powell's method on (dy, dx, angle, log scale), from half resolution to full.

The result is an ``ml.register.Transform``; ``error`` is 1 - the final NGF match (averaged over channels).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage, optimize
from skimage.filters import window
from skimage.registration import phase_cross_correlation
from skimage.transform import warp_polar

from ml.register import RegisterConfig, Transform, warp

SMOOTH = 1.0  # px: Gaussian smoothing before gradients (noise of element maps, blur differences)
INNER = 0.06  # share of each side left out of the match (content moved in from outside the field)
EPS = 0.5  # NGF edge threshold, as a share of the image's root-mean-square gradient
POLAR_ROWS = 720  # log-polar angle samples over 360 degrees
LOW_FREQUENCY = 6  # spectrum radius (cycles per image) below which the window, not the field, shapes it
DEG_UNIT, SCALE_UNIT = 1.0, 100.0  # optimiser units: degrees and percent of scale weigh like pixels


def _channels(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float64)
    return image[None] if image.ndim == 2 else image


def _gradient_magnitude(image: np.ndarray, sigma: float) -> np.ndarray:
    """The sum over channels of each channel's smoothed gradient magnitude, scaled to unit mean."""
    total = np.zeros(image.shape[-2:])
    for ch in _channels(image):
        g = ndimage.gaussian_gradient_magnitude(ch, sigma)
        total += g / max(g.mean(), 1e-12)
    return total


def _log_polar_spectrum(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Half (0-180 degrees) of the log-polar magnitude spectrum from radius LOW_FREQUENCY out, windowed along
    the log radius, and the columns per unit of log radius."""
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2((image - image.mean()) * window("hann", image.shape))))
    radius = min(image.shape) / 2 - 1
    polar = warp_polar(spectrum, radius=radius, output_shape=(POLAR_ROWS, image.shape[1]), scaling="log", order=1)
    klog = image.shape[1] / np.log(radius)
    band = polar[: POLAR_ROWS // 2, int(klog * np.log(LOW_FREQUENCY)):]
    return band * window("hann", band.shape[1])[None], klog


def coarse_rotation_scale(reference: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """Angle (degrees) and scale of ``moving`` relative to ``reference`` (both gradient images) by Fourier-Mellin."""
    ref, klog = _log_polar_spectrum(reference)
    mov, _ = _log_polar_spectrum(moving)
    (rows, cols), _, _ = phase_cross_correlation(ref, mov, upsample_factor=20, normalization=None)
    angle = (rows * 360.0 / POLAR_ROWS + 90) % 180 - 90  # the spectrum is symmetric: angles modulo 180
    return float(-angle), float(np.exp(-cols / klog))


def _normalised_gradients(image: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    gy, gx = np.gradient(image)
    norm = np.sqrt(gy**2 + gx**2 + eps**2)
    return gy / norm, gx / norm


def _eps(image: np.ndarray) -> float:
    gy, gx = np.gradient(image)
    return EPS * float(np.sqrt(np.mean(gy**2 + gx**2))) + 1e-12


class _Match:
    """The NGF match of a moving image (C, H, W), warped by a candidate transform, with the reference."""

    def __init__(self, reference: np.ndarray, moving: np.ndarray, factor: int, order: int):
        self.factor, self.order = factor, order
        ref = ndimage.gaussian_filter(reference, SMOOTH)
        self.moving = [ndimage.gaussian_filter(ch, SMOOTH) for ch in moving]
        if factor > 1:
            ref = ndimage.zoom(ndimage.gaussian_filter(ref, factor / 2), 1 / factor, order=1)
            self.moving = [ndimage.zoom(ndimage.gaussian_filter(ch, factor / 2), 1 / factor, order=1)
                           for ch in self.moving]
        self.eps = [_eps(ch) for ch in self.moving]
        if order > 1:  # the spline coefficients once, not at every warp
            self.moving = [ndimage.spline_filter(ch, order, mode="nearest") for ch in self.moving]
        h, w = ref.shape
        self.inner = (slice(int(INNER * h), h - int(INNER * h)), slice(int(INNER * w), w - int(INNER * w)))
        ry, rx = _normalised_gradients(ref, _eps(ref))
        self.ry, self.rx = ry[self.inner], rx[self.inner]

    def transform(self, p: np.ndarray) -> Transform:
        """Parameters in optimiser units at full resolution to a Transform at this level."""
        return Transform(p[0] / self.factor, p[1] / self.factor, p[2] / DEG_UNIT,
                         scale=float(np.exp(p[3] / SCALE_UNIT)))

    def score(self, p: np.ndarray) -> float:
        t, total = self.transform(p), 0.0
        for ch, eps in zip(self.moving, self.eps):
            my, mx = _normalised_gradients(warp(ch, t, self.order, prefilter=self.order <= 1), eps)
            total += float(np.mean((self.ry * my[self.inner] + self.rx * mx[self.inner]) ** 2))
        return total / len(self.moving)


def _params(t: Transform) -> np.ndarray:
    return np.array([t.dy, t.dx, t.angle_deg * DEG_UNIT, np.log(t.scale) * SCALE_UNIT])


def coarse(reference: np.ndarray, moving: np.ndarray, cfg: RegisterConfig) -> Transform:
    """Rotation and scale by Fourier-Mellin (clipped to the config's ranges), then the shift by phase correlation."""
    ref, mov = _gradient_magnitude(reference, SMOOTH), _gradient_magnitude(moving, SMOOTH)
    angle, scale = coarse_rotation_scale(ref, mov)
    angle = float(np.clip(angle, -cfg.max_angle, cfg.max_angle))
    scale = float(np.clip(scale, 1 - cfg.max_scale, 1 + cfg.max_scale))
    turned = warp(mov, Transform(angle_deg=angle, scale=scale), order=1)
    hann = window("hann", ref.shape)
    shift, _, _ = phase_cross_correlation((ref - ref.mean()) * hann, (turned - turned.mean()) * hann,
                                          upsample_factor=10, normalization=None)
    return Transform(float(shift[0]), float(shift[1]), angle, scale=scale)


def refine(reference: np.ndarray, moving: np.ndarray, start: Transform, cfg: RegisterConfig) -> Transform:
    """Powell's method on the NGF match, at half resolution, then full."""
    p = _params(start)
    match = None
    for factor, xtol in ((2, 0.05), (1, 0.005)):
        match = _Match(reference, moving, factor, 1 if factor > 1 else cfg.order)
        steps = np.diag([1.0, 1.0, 0.5 * DEG_UNIT, 1.0]) * (factor / 2)
        done = optimize.minimize(lambda q: -match.score(q), p, method="Powell",
                                 options={"xtol": xtol, "ftol": 1e-7, "direc": steps})
        p = done.x
    t = match.transform(p)
    return Transform(t.dy, t.dx, t.angle_deg, 1.0 - match.score(p), t.scale)


def estimate_multimodal(reference: np.ndarray, moving: np.ndarray, cfg: RegisterConfig = RegisterConfig()) -> Transform:
    """The similarity Transform that brings ``moving`` ((H, W), or (C, H, W) element maps of one acquisition)
    onto ``reference`` ((H, W))."""
    ref, mov = np.asarray(reference, np.float64), _channels(moving)
    if ref.shape != mov.shape[1:]:
        raise ValueError(f"images to register differ in size: {ref.shape} and {mov.shape[1:]}")
    return refine(ref, mov, coarse(ref, mov, cfg), cfg)
