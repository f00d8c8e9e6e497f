"""Reading SEM image files: which suffixes are images, the decode of TIFF/PNG/JPEG/BMP, the header-only size.

One reader for labeling/ (task images, 8-bit previews) and ml/ (channel stacks, masks): pixels come back as the
decoder gives them, in their stored dtype, and every failure is an ``ImageReadError`` that names the file. What
the instrument wrote into the file (pixel size, detector, microscope) is ``foundation.instrument``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = TIFF_SUFFIXES + (".png", ".jpg", ".jpeg", ".bmp")


class ImageReadError(OSError):
    """A file that cannot be read as an image or mask; the message names the file."""

    def __init__(self, path: Path | str, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot read {self.path}: {reason}")


def is_tiff(path: Path | str) -> bool:
    return Path(path).suffix.lower() in TIFF_SUFFIXES


def is_image(path: Path | str) -> bool:
    """True if the file's suffix is one this reader decodes (the file itself is not opened)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_pixels(path: Path | str, first_page: bool = False) -> np.ndarray:
    """The decoded pixels as stored: (H, W), (H, W, samples), or for a multi-page TIFF (pages, H, W).

    ``first_page`` reads only the first page of a TIFF (a preview needs no more than that).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file")
    try:
        if is_tiff(path):
            return np.asarray(tifffile.imread(path, key=0 if first_page else None))
        with Image.open(path) as im:
            im.load()
            return np.asarray(im)
    except Exception as exc:  # truncated, corrupt, unknown format: all reported the same way
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc


def image_size(path: Path | str) -> tuple[int, int]:
    """(height, width) from the file header, without decoding the pixels; ImageReadError if it does not load."""
    path = Path(path)
    try:
        if is_tiff(path):
            with tifffile.TiffFile(path) as tif:
                return int(tif.pages[0].imagelength), int(tif.pages[0].imagewidth)
        with Image.open(path) as im:
            im.verify()
            return im.height, im.width
    except Exception as exc:
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc


def first_plane(pixels: np.ndarray, path: Path | str = "<array>") -> np.ndarray:
    """A 2-D grey or (H, W, 3) RGB view of decoded pixels: alpha dropped, the first plane of a stack."""
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        return pixels[..., :3]
    if pixels.ndim == 3:  # channels first or a stack: keep the first plane
        return pixels[0]
    if pixels.ndim != 2:
        raise ImageReadError(path, f"unsupported image shape {pixels.shape}")
    return pixels


def read_plane(path: Path | str) -> np.ndarray:
    """The first page/frame as a 2-D (grey) or 3-D (RGB) array in its own dtype."""
    return first_plane(read_pixels(path, first_page=True), path)
