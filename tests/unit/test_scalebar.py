"""The pixel size read from a burned-in scale bar: the label parser, the bar detector, and the whole reading on
synthetic SEM-like images with bars of known pixel length and labels in several fonts and units (Tesseract OCR;
bin/test and CI install it through scripts/tesseract.sh, elsewhere these tests skip without it)."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from foundation.scalebar import SCALE_BAR, find_bars, grey_unit, read_scale_bar
from foundation.scalelabel import MISREAD_CERTAINTY, OcrUnavailable, parse_length, tesseract

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
needs_ocr = pytest.mark.skipif(not (os.environ.get("GRAINLOOP_TESSERACT") or shutil.which("tesseract")),
                               reason="no Tesseract (scripts/tesseract.sh installs Debian's tesseract-ocr as root)")


@pytest.mark.parametrize("text, value, unit, certainty", [
    ("5 \u00b5m", 5, "um", 1.0), ("5\u03bcm", 5, "um", 1.0), ("5 um", 5, "um", 1.0), ("500 nm", 500, "nm", 1.0),
    ("500nm", 500, "nm", 1.0), ("0.5 mm", 0.5, "mm", 1.0), ("0,5 mm", 0.5, "mm", 1.0), ("1.0 \u00b5m", 1, "um", 1.0),
    ("2 pm", 2, "um", MISREAD_CERTAINTY), ("20 jum", 20, "um", MISREAD_CERTAINTY), ("200 NM", 200, "nm", 1.0),
])
def test_labels_parse_to_a_length(text, value, unit, certainty):
    length = parse_length(text)
    assert (length.value, length.unit, length.certainty) == (pytest.approx(value), unit, certainty)


@pytest.mark.parametrize("text", ["", "nm", "500", "0 nm", "5 km", "x5 um", "WD 10", "5 m", "a1"])
def test_other_text_is_no_length(text):
    assert parse_length(text) is None


def test_micrometres_from_each_unit():
    assert parse_length("500 nm").micrometres == pytest.approx(0.5)
    assert parse_length("2 mm").micrometres == pytest.approx(2000)
    assert str(parse_length("5 um")) == "5 \u00b5m"


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


def test_a_bar_is_found_at_its_length_and_nothing_in_plain_texture():
    bars = find_bars(grey_unit(scale_image(180, None)))
    assert bars and bars[0].length == pytest.approx(180, abs=0.5) and not bars[0].bright
    assert find_bars(grey_unit((texture() * 255).astype(np.uint8))) == []


def test_an_anti_aliased_bar_is_measured_to_a_fraction_of_a_pixel():
    big = scale_image(4 * 100 + 2, None)  # 100.5 px once shrunk four times
    small = np.asarray(Image.fromarray(big).resize((big.shape[1] // 4, big.shape[0] // 4), Image.BOX))
    dark = [b for b in find_bars(grey_unit(small)) if not b.bright]  # (the white strips beside it are bars too)
    assert dark[0].length == pytest.approx(100.5, abs=0.25)


CASES = [  # bar length, label, font, dark bar on light, micrometres per pixel
    (200, "5 um", None, True, 5 / 200),  # Pillow's own font has no micro sign
    (220, "5 \u00b5m", "DejaVuSans.ttf", True, 5 / 220),
    (160, "500 nm", "DejaVuSans.ttf", True, 0.5 / 160),
    (240, "2\u03bcm", "DejaVuSerif-Bold.ttf", False, 2 / 240),
    (125, "0.5 mm", "DejaVuSansMono.ttf", True, 500 / 125),
    (300, "20 um", "DejaVuSansCondensed-Bold.ttf", False, 20 / 300),
    (90, "100 nm", None, False, 0.1 / 90),
]


@needs_ocr
@pytest.mark.parametrize("length_px, label, face, dark, expected", CASES)
def test_the_pixel_size_is_read_from_bar_and_label(length_px, label, face, dark, expected):
    reading = read_scale_bar(scale_image(length_px, label, font(face, 24), dark))
    assert reading is not None and reading.source == SCALE_BAR
    assert reading.pixel_size_um == pytest.approx(expected, rel=0.02)
    assert 0 < reading.confidence <= 1 and reading.bar_length_px == pytest.approx(length_px, rel=0.02)
    r0, r1, c0, c1 = reading.bar_box
    assert r1 - r0 == 8 and c1 - c0 == length_px


@needs_ocr
def test_a_rgb_image_reads_the_same():
    grey = scale_image(200, "1 \u00b5m", font("DejaVuSans.ttf", 24))
    assert read_scale_bar(np.stack([grey] * 3, axis=-1)).pixel_size_um == pytest.approx(1 / 200, rel=0.02)


@needs_ocr
@pytest.mark.parametrize("label, bar", [(None, True), ("5 \u00b5m", False), ("grains", True)])
def test_no_bar_or_no_label_gives_no_value(label, bar):
    assert read_scale_bar(scale_image(200, label, bar=bar)) is None


def test_without_tesseract_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("GRAINLOOP_TESSERACT", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailable, match="tesseract-ocr"):
        tesseract()
    with pytest.raises(OcrUnavailable, match="GRAINLOOP_TESSERACT"):
        read_scale_bar(scale_image(200, "5 um"))
