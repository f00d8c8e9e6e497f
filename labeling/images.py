"""Reading SEM images for labeling: pixels, sha256, instrument metadata, and viewable 8-bit PNGs.

Browsers show neither TIFF nor 16-bit images, so those (and every tile) get an 8-bit PNG for the editor,
contrast-stretched between the 0.5 and 99.5 percentiles; the task keeps a link to the original.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

from foundation.atomic import atomic_path
from foundation.digest import sha256_file  # noqa: F401  (re-exported for the importer)

TIFF = (".tif", ".tiff")
EXTENSIONS = (*TIFF, ".png", ".jpg", ".jpeg")
FEI_KEYS = (("Beam", "HV"), ("Scan", "PixelWidth"), ("Scan", "PixelHeight"), ("Stage", "WorkingDistance"),
            ("Detectors", "Name"), ("System", "SystemType"), ("Beam", "Spot"))
ZEISS_KEYS = ("ap_image_pixel_size", "ap_wd", "ap_actualkv", "ap_mag", "dp_detector_type", "sv_serial_number")


class ImageLoadError(ValueError):
    """An image file that cannot be read."""


def read_image(path: Path) -> np.ndarray:
    """The first page/frame as a 2-D (grey) or 3-D (RGB) array in its own dtype."""
    try:
        if path.suffix.lower() in TIFF:
            pixels = tifffile.imread(path, key=0)
        else:
            with Image.open(path) as im:
                pixels = np.asarray(im)
    except Exception as e:  # every decoder has its own errors
        raise ImageLoadError(f"{path.name}: cannot be read ({type(e).__name__}: {e})") from None
    return _as_grey_or_rgb(pixels, path)


def _as_grey_or_rgb(pixels: np.ndarray, path: Path) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        return pixels[..., :3]
    if pixels.ndim == 3:  # channels first or a stack: keep the first plane
        return pixels[0]
    if pixels.ndim != 2:
        raise ImageLoadError(f"{path.name}: unsupported image shape {pixels.shape}")
    return pixels


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header; ImageLoadError if the file no longer loads."""
    try:
        if path.suffix.lower() in TIFF:
            with tifffile.TiffFile(path) as tif:
                return int(tif.pages[0].imagelength), int(tif.pages[0].imagewidth)
        with Image.open(path) as im:
            im.verify()
            return im.height, im.width
    except Exception as e:
        raise ImageLoadError(f"{path}: cannot be read ({type(e).__name__}: {e})") from None


def is_viewable(path: Path, pixels: np.ndarray) -> bool:
    """True if a browser can show the file as it is."""
    return path.suffix.lower() not in TIFF and pixels.dtype == np.uint8


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
    """What the microscope wrote into a TIFF (FEI/Thermo or Zeiss tags), as JSON-safe scalars; {} if none."""
    if path.suffix.lower() not in TIFF:
        return {}
    try:
        with tifffile.TiffFile(path) as tif:
            return {**_fei(tif.fei_metadata), **_zeiss(tif.sem_metadata)}
    except Exception:  # metadata is a bonus: a file whose tags do not parse still imports
        return {}


def _fei(meta: dict | None) -> dict[str, Any]:
    if not meta:
        return {}
    out = {f"{s}.{k}": meta[s][k] for s, k in FEI_KEYS if s in meta and k in meta[s]}
    return {"vendor": "FEI", **{k: _scalar(v) for k, v in out.items()}}


def _zeiss(meta: dict | None) -> dict[str, Any]:
    if not meta:
        return {}
    return {"vendor": "Zeiss", **{k: _scalar(meta[k]) for k in ZEISS_KEYS if k in meta}}


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return value if isinstance(value, (int, float, str, bool)) else str(value)
