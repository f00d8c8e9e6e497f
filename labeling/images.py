"""Images for labeling: which files import, instrument metadata for the task, and viewable 8-bit PNGs.

Decoding and metadata are ``foundation.semimage`` and ``foundation.instrument`` (shared with ml/). Browsers show
neither TIFF nor 16-bit images, so those (and every tile) get an 8-bit PNG for the editor, contrast-stretched
between the 0.5 and 99.5 percentiles; the task keeps a link to the original.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from foundation.atomic import atomic_path
from foundation.digest import sha256_file  # noqa: F401  (re-exported for the importer)
from foundation.instrument import read_instrument
from foundation.semimage import IMAGE_SUFFIXES, ImageReadError, is_tiff

EXTENSIONS = tuple(s for s in IMAGE_SUFFIXES if s != ".bmp")  # what the importer scans for


def is_viewable(path: Path, pixels: np.ndarray) -> bool:
    """True if a browser can show the file as it is."""
    return not is_tiff(path) and pixels.dtype == np.uint8


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    values = pixels.astype(np.float64)
    lo, hi = np.percentile(values, (0.5, 99.5))
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def save_png(pixels: np.ndarray, path: Path) -> None:
    """Write atomically, so a crash never leaves half a PNG behind."""
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG", compress_level=1)


def instrument_metadata(path: Path) -> dict[str, Any]:
    """What the microscope wrote into a TIFF (FEI/Thermo or Zeiss entries), as JSON-safe scalars; {} if none."""
    try:
        return dict(read_instrument(path).entries)
    except ImageReadError:  # metadata is a bonus: a file whose tags do not parse still imports
        return {}
