"""Synthetic SEM-like images with a burned-in scale bar of known pixel length and its label, for the scale-bar
tests (tests/unit/test_scalebar.py, tests/unit/test_scales.py)."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
needs_ocr = pytest.mark.skipif(not (os.environ.get("GRAINLOOP_TESSERACT") or shutil.which("tesseract")),
                               reason="no Tesseract (scripts/tesseract.sh installs Debian's tesseract-ocr as root)")


def texture(shape=(480, 640), seed=0) -> np.ndarray:
    """A grainy SEM-like field in 0.25-0.75 with a few dark and bright grains."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 3)
    field = 0.5 + 0.25 * field / np.abs(field).max()
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    for _ in range(8):
        cy, cx, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(10, 40)
        field[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.choice([0.3, 0.7])
    return field


def font(name: str | None, size: int) -> ImageFont.FreeTypeFont:
    if name is None:
        return ImageFont.load_default(size)
    found = [p for d in FONT_DIRS if d.is_dir() for p in d.rglob(name)]
    if not found:
        pytest.skip(f"font {name} is not installed")
    return ImageFont.truetype(str(found[0]), size)


def scale_image(length_px: int, label: str | None, typeface=None, dark_on_light=True, bar=True,
                size: int = 22, seed=0) -> np.ndarray:
    """8-bit image: texture, a plain patch in the bottom-right corner holding a bar ``length_px`` long with its
    label above it (or no bar, or no label)."""
    img = Image.fromarray((texture(seed=seed) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    w, h = img.size
    ink, paper = (0, 255) if dark_on_light else (255, 0)
    x0, y0 = w - length_px - 30, h - 70
    draw.rectangle((x0 - 12, y0 - 12, w - 6, h - 6), fill=paper)
    if bar:
        draw.rectangle((x0, h - 30, x0 + length_px - 1, h - 30 + 7), fill=ink)
    if label:
        draw.text((x0 + length_px // 2, y0 + 12), label, fill=ink, font=typeface or font(None, size), anchor="mm")
    return np.asarray(img)
