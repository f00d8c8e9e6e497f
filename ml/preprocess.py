"""One preprocessing for training and prediction: robust intensity normalisation and banner filling.

``fit`` measures an image once (per-channel percentiles outside the banner, the banner box); ``apply``
turns any region of it into normalised float32, reflecting rows and columns that fall in the banner or
outside the image. Training applies it to whole images, prediction to tiles of huge ones: the same numbers.

With ``downsample = k`` the model sees one pixel per k x k block of image pixels (their mean): boxes given to
``apply`` are in these model pixels, and every tile is the exact crop of the whole downsampled image.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ml.banner import BannerConfig, detect_banner
from ml.box import Box
from ml.io import ImageSource, as_source


@dataclass(frozen=True)
class PreprocessConfig:
    low_percentile: float = 1.0
    high_percentile: float = 99.0
    sample_pixels: int = 1_000_000  # percentiles are estimated on a regular subsample of this many pixels
    downsample: int = 1  # model pixels are means of k x k image pixels (for images sampled finer than needed)
    banner: BannerConfig = field(default_factory=BannerConfig)

    def __post_init__(self) -> None:
        if not (isinstance(self.downsample, int) and self.downsample >= 1):
            raise ValueError(f"downsample must be a whole number >= 1, got {self.downsample!r}")


@dataclass(frozen=True)
class PreprocessState:
    """What fit() measured; enough to preprocess any region of the same image."""

    shape: tuple[int, int, int]
    low: tuple[float, ...]
    high: tuple[float, ...]
    banner: Box | None
    downsample: int = 1

    @property
    def model_shape(self) -> tuple[int, int]:
        """(rows, columns) of the image in model pixels."""
        k = self.downsample
        return -(-self.shape[1] // k), -(-self.shape[2] // k)

    @property
    def valid_rows(self) -> tuple[int, int]:
        """Rows holding specimen (not banner)."""
        h = self.shape[1]
        if self.banner is None:
            return 0, h
        return (self.banner.y1, h) if self.banner.y0 == 0 else (0, self.banner.y0)


@dataclass(frozen=True)
class Preprocessed:
    image: np.ndarray  # (C, H, W) float32 in [0, 1]
    banner: Box | None
    state: PreprocessState


def _subsample(source: ImageSource, rows: tuple[int, int], n_pixels: int) -> np.ndarray:
    """A regular subsample (C, N) of the valid rows, read band by band to bound memory."""
    c, _, w = source.shape
    step = max(1, int(np.ceil(np.sqrt((rows[1] - rows[0]) * w / n_pixels))))
    band = step * max(1, 2048 // step)
    parts = [source.read(y, min(y + band, rows[1]), 0, w)[:, ::step, ::step] for y in range(rows[0], rows[1], band)]
    return np.concatenate([p.reshape(c, -1) for p in parts], axis=1).astype(np.float32)


def fit(image: ImageSource | np.ndarray, cfg: PreprocessConfig = PreprocessConfig()) -> PreprocessState:
    """Measure an image: banner box and per-channel robust intensity range."""
    source = as_source(image)
    banner = detect_banner(source, cfg.banner)
    state = PreprocessState(tuple(source.shape), (), (), banner)
    sample = _subsample(source, state.valid_rows, cfg.sample_pixels)
    low, high = np.percentile(sample, [cfg.low_percentile, cfg.high_percentile], axis=1)
    high = np.maximum(high, low + 1e-6)
    return PreprocessState(state.shape, tuple(map(float, low)), tuple(map(float, high)), banner, cfg.downsample)


def reflect_indices(start: int, stop: int, lo: int, hi: int) -> np.ndarray:
    """Indices start..stop-1 folded into [lo, hi) by symmetric reflection."""
    n = hi - lo
    i = np.mod(np.arange(start, stop) - lo, 2 * n)
    return lo + np.where(i < n, i, 2 * n - 1 - i)


def _is_span(idx: np.ndarray) -> bool:
    """True when idx is a plain ascending range (nothing was reflected)."""
    return int(idx[0]) == int(idx.min()) and int(idx.max()) - int(idx.min()) == len(idx) - 1


def _read_reflected(source: ImageSource, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r0, c0 = int(rows.min()), int(cols.min())
    region = source.read(r0, int(rows.max()) + 1, c0, int(cols.max()) + 1)
    if not _is_span(rows):
        region = region[:, rows - r0]
    return region if _is_span(cols) else region[:, :, cols - c0]


def _block_mean(region: np.ndarray, k: int) -> np.ndarray:
    c, h, w = region.shape
    return region.reshape(c, h // k, k, w // k, k).mean(axis=(2, 4))


def apply(image: ImageSource | np.ndarray, state: PreprocessState, box: Box | None = None) -> np.ndarray:
    """Normalised float32 (C, h, w) of any box in model pixels, also one reaching past the image or into the banner."""
    source = as_source(image)
    k = state.downsample
    box = box or Box(0, state.model_shape[0], 0, state.model_shape[1])
    rows = reflect_indices(box.y0 * k, box.y1 * k, *state.valid_rows)
    cols = reflect_indices(box.x0 * k, box.x1 * k, 0, state.shape[2])
    region = _read_reflected(source, rows, cols).astype(np.float32)
    if k > 1:
        region = _block_mean(region, k)
    low = np.asarray(state.low, np.float32)[:, None, None]
    high = np.asarray(state.high, np.float32)[:, None, None]
    return np.clip((region - low) / (high - low), 0.0, 1.0, out=region)


def preprocess(image: np.ndarray, cfg: PreprocessConfig = PreprocessConfig()) -> Preprocessed:
    """The whole-image form used by training, evaluation and prediction of images that fit in memory."""
    state = fit(image, cfg)
    return Preprocessed(apply(image, state), state.banner, state)
