"""Detect the instrument's info banner: the full-width text strip SEM software burns into an image edge.

A banner row is flat: most of its pixels share one grey level (the banner's background, or a separator
line), with text on top; specimen rows are noisy, so few pixels sit within one grey level of their mode.
The banner is the run of flat rows that starts at the top or bottom edge and ends in a sharp transition to
specimen rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.box import Box
from ml.io import ImageSource, as_source


@dataclass(frozen=True)
class BannerConfig:
    enabled: bool = True
    min_fraction: float = 0.02  # shortest banner, as a fraction of the image height (at least min_rows)
    max_fraction: float = 0.35  # tallest banner searched for
    min_rows: int = 6
    banner_row: float = 0.35  # a banner row has at least this fraction of pixels within a grey level of its mode
    specimen_row: float = 0.25  # the rows past the banner must have less than this
    extreme: float = 0.15  # the banner's field lies within this fraction of the range from black or white
    max_gap_rows: int = 3  # dips below banner_row bridged inside a banner (at least 1% of the image height)
    max_columns: int = 4096  # columns looked at (a regular subsample of wider images)


def _flat_fraction(strip: np.ndarray, extreme: float) -> np.ndarray:
    """Per-row fraction of pixels within one grey level (of 256 over the strip's range) of the row's mode;
    0 for rows whose mode is not near black or white, since banners are drawn on a black or white field."""
    lo, hi = float(strip.min()), float(strip.max())
    q = ((strip - lo) * (255.0 / max(hi - lo, 1e-9))).astype(np.int64)
    rows, cols = q.shape
    counts = np.bincount((q + 258 * np.arange(rows)[:, None] + 1).ravel(), minlength=258 * rows).reshape(rows, 258)
    near = counts[:, :-2] + counts[:, 1:-1] + counts[:, 2:]
    mode = near.argmax(axis=1)
    at_extreme = (mode <= extreme * 255) | (mode >= (1 - extreme) * 255)
    return np.where(at_extreme, near.max(axis=1) / cols, 0.0)


def _run_length(frac: np.ndarray, threshold: float, max_gap: int) -> int:
    """Length of the leading run of rows at or above threshold, bridging dips of at most max_gap rows
    (rows through dense text or a scale bar)."""
    n, gap = 0, 0
    for i, below in enumerate(frac < threshold):
        gap = gap + 1 if below else 0
        if gap > max_gap:
            break
        n = n if below else i + 1
    return n


def _edge_banner(strip: np.ndarray, cfg: BannerConfig, min_rows: int) -> int:
    """Banner height at the start of strip (rows ordered from the image edge inwards), or 0."""
    frac = _flat_fraction(strip, cfg.extreme)
    n = _run_length(frac, cfg.banner_row, max(cfg.max_gap_rows, len(frac) // 30))
    if n < min_rows or n >= len(frac):
        return 0
    return n if frac[n : n + 3].mean() < cfg.specimen_row else 0


def _grey(region: np.ndarray, max_columns: int) -> np.ndarray:
    step = max(1, -(-region.shape[2] // max_columns))
    return region[:, :, ::step].astype(np.float32).mean(axis=0)


def detect_banner(image: ImageSource | np.ndarray, cfg: BannerConfig = BannerConfig()) -> Box | None:
    """The banner's box, or None. Reads only the top and bottom strips of a lazy source."""
    source = as_source(image)
    _, h, w = source.shape
    depth = int(h * cfg.max_fraction)
    min_rows = max(cfg.min_rows, int(h * cfg.min_fraction))
    if not cfg.enabled or depth <= min_rows:
        return None
    bottom = _edge_banner(_grey(source.read(h - depth, h, 0, w), cfg.max_columns)[::-1], cfg, min_rows)
    if bottom:
        return Box(h - bottom, h, 0, w)
    top = _edge_banner(_grey(source.read(0, depth, 0, w), cfg.max_columns), cfg, min_rows)
    return Box(0, top, 0, w) if top else None
