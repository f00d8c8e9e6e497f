"""The pixel size read from a burned-in scale bar: the label parser, the bar detector, and the whole reading on
synthetic SEM-like images with bars of known pixel length and labels in several fonts and units (Tesseract OCR;
bin/test and CI install it through scripts/tesseract.sh, elsewhere these tests skip without it)."""
import numpy as np
import pytest
from PIL import Image

from foundation.scalebar import SCALE_BAR, find_bars, grey_unit, read_scale_bar
from foundation.scalelabel import MISREAD_CERTAINTY, OcrUnavailable, parse_length, tesseract
from tests.scalebars import font, needs_ocr, scale_image, texture



@pytest.mark.parametrize("text, value, unit, certainty", [
    ("5 \u00b5m", 5, "um", 1.0), ("5\u03bcm", 5, "um", 1.0), ("5 um", 5, "um", 1.0), ("500 nm", 500, "nm", 1.0),
    ("500nm", 500, "nm", 1.0), ("0.5 mm", 0.5, "mm", 1.0), ("0,5 mm", 0.5, "mm", 1.0), ("1.0 \u00b5m", 1, "um", 1.0),
    ("2 pm", 2, "um", MISREAD_CERTAINTY), ("20 jum", 20, "um", MISREAD_CERTAINTY), ("200 NM", 200, "nm", 1.0),
    ("Sum", 5, "um", MISREAD_CERTAINTY), ("1O nm", 10, "nm", MISREAD_CERTAINTY),  # OCR's letters for digits
])
def test_labels_parse_to_a_length(text, value, unit, certainty):
    length = parse_length(text)
    assert (length.value, length.unit, length.certainty) == (pytest.approx(value), unit, certainty)


@pytest.mark.parametrize("text", ["", "nm", "500", "0 nm", "5 km", "x5 um", "WD 10", "5 m", "a1", "Solum", "Ilnm", "5s00 nm"])
def test_other_text_is_no_length(text):
    assert parse_length(text) is None


def test_micrometres_from_each_unit():
    assert parse_length("500 nm").micrometres == pytest.approx(0.5)
    assert parse_length("2 mm").micrometres == pytest.approx(2000)
    assert str(parse_length("5 um")) == "5 \u00b5m"


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


def test_a_bar_cut_by_the_frame_is_no_bar():
    img = (texture() * 255).astype(np.uint8)
    img[390:418, -170:] = 255
    img[400:408, -150:] = 0  # runs into the right edge: how long it was is unknown
    assert find_bars(grey_unit(img)) == []
    img[400:408, -1] = 255
    assert find_bars(grey_unit(img))[0].length == pytest.approx(149, abs=0.5)
