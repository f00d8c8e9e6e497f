"""The pixel size from the image itself: the scale bar burned into it (a long, thin, solid horizontal bar, dark on
light or light on dark) and its label read by OCR (``foundation.scalelabel``).

A bar is a run of pixels near black or white, at least ``min_length`` long, that stays a filled rectangle (few
gaps, at least ``min_aspect`` times longer than thick) lying in one field (the same grey on both long sides, in
contrast with the bar's); its length is measured
to a fraction of a pixel from the anti-aliased ends. The label is the length read nearest the bar in the region
around it. The pixel size is the label's length over the bar's, with a confidence that multiplies the OCR's
word confidence, the certainty of the unit reading, how filled and contrasted the bar is, and how near its label
lies. Nothing is returned without both a bar and a label, or for a pixel size no SEM gives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from foundation.scalelabel import Length, label_lengths, ocr_words
from foundation.semimage import first_plane, read_plane

SCALE_BAR = "scale-bar"  # the pixel-size source of a value read from the image's scale bar
PLAUSIBLE_UM = (1e-5, 100.0)  # micrometres per pixel an SEM image can have


@dataclass(frozen=True)
class ScaleBarConfig:
    min_length: int = 12  # pixels, and at least min_length_fraction of the width
    min_length_fraction: float = 0.03
    max_length_fraction: float = 0.9  # longer runs are frame or banner lines
    min_aspect: float = 4.0  # length over thickness
    min_fill: float = 0.85  # of the bar's box
    level: float = 0.3  # a bar pixel lies within this fraction of the grey range from black or white
    max_candidates: int = 4  # bars whose surroundings are read, longest first
    text_heights: tuple[float, ...] = (32, 20)  # pixels: the label region is scaled so that its characters are
    # about this tall (OCR reads small and very large text badly); the next height is tried when nothing is read


@dataclass(frozen=True)
class Bar:
    row0: int
    row1: int
    col0: int
    col1: int
    length: float  # pixels, to a fraction of one
    quality: float  # 0-1: filled and contrasted
    bright: bool  # light bar on a dark field

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.row0, self.row1, self.col0, self.col1


@dataclass(frozen=True)
class ScaleReading:
    """A pixel size read from a scale bar: micrometres per pixel, the label, the bar and how sure it is."""

    pixel_size_um: float
    label: str  # the label as parsed, e.g. "500 nm"
    value: float  # the label's number
    unit: str  # nm, um or mm
    bar_length_px: float
    bar_box: tuple[int, int, int, int]  # row0, row1, col0, col1 (ends exclusive)
    confidence: float
    source: str = SCALE_BAR

    def to_dict(self) -> dict:
        return {"pixel_size_um": self.pixel_size_um, "label": self.label, "value": self.value, "unit": self.unit,
                "bar_length_px": round(self.bar_length_px, 2), "bar_box": list(self.bar_box),
                "confidence": round(self.confidence, 3), "source": self.source}


def grey_unit(pixels: np.ndarray) -> np.ndarray:
    """A 2-D float image scaled to 0-1 over its own range."""
    plane = first_plane(np.asarray(pixels)).astype(np.float32)
    grey = plane.mean(axis=-1) if plane.ndim == 3 else plane
    lo, hi = float(grey.min()), float(grey.max())
    return (grey - lo) / max(hi - lo, 1e-9)


def _subpixel_length(grey: np.ndarray, bar: tuple[int, int, int, int], level: float, bg: float) -> float:
    """The bar's length from its middle rows: each pixel counts for how far its grey goes from the field's to
    the bar's, so anti-aliased ends count in part."""
    r0, r1, c0, c1 = bar
    rows = grey[r0 + (r1 - r0) // 4:r1 - (r1 - r0) // 4 or r1, max(c0 - 2, 0):c1 + 2]
    return float(np.clip((rows - bg) / (level - bg), 0, 1).sum(axis=1).mean())


def _bar(grey: np.ndarray, component: np.ndarray, box: tuple[slice, slice], bright: bool,
         cfg: ScaleBarConfig) -> Bar | None:
    (rows, cols), h, w = box, box[0].stop - box[0].start, box[1].stop - box[1].start
    if w < cfg.min_aspect * h or w > cfg.max_length_fraction * grey.shape[1]:
        return None
    if cols.start == 0 or cols.stop == grey.shape[1]:  # cut by the frame: its length is unknown
        return None
    fill = float(component.mean())
    above = grey[max(rows.start - 3, 0):max(rows.start - 1, 0), cols]  # past one row the bar's blur may reach
    below = grey[rows.stop + 1:rows.stop + 3, cols]
    sides = [s for s in (above, below) if s.size]
    if fill < cfg.min_fill or not sides:
        return None
    level, bg = float(np.median(grey[box])), float(np.median(np.concatenate([s.ravel() for s in sides])))
    contrast = abs(level - bg)
    edges = [float(np.mean(np.abs(s - level) > contrast / 2)) for s in sides]  # the long sides stand out
    one_field = len(sides) == 1 or abs(float(np.median(above)) - float(np.median(below))) < contrast / 2
    if contrast < 0.3 or min(edges) < 0.6 or not one_field:  # not one field: a strip between a bar and a label
        return None
    length = _subpixel_length(grey, (rows.start, rows.stop, cols.start, cols.stop), level, bg)
    return Bar(rows.start, rows.stop, cols.start, cols.stop, length, fill * min(1.0, contrast / 0.6) * min(edges),
               bright)


def find_bars(grey: np.ndarray, cfg: ScaleBarConfig = ScaleBarConfig()) -> list[Bar]:
    """Candidate scale bars in a 0-1 grey image, longest first."""
    min_len = max(cfg.min_length, int(cfg.min_length_fraction * grey.shape[1]))
    bars = []
    for bright, mask in ((False, grey <= cfg.level), (True, grey >= 1 - cfg.level)):
        runs = ndimage.binary_opening(mask, structure=np.ones((1, min_len), bool))
        labels, _ = ndimage.label(runs)
        for i, box in enumerate(ndimage.find_objects(labels), start=1):
            bar = _bar(grey, labels[box] == i, box, bright, cfg) if box is not None else None
            if bar is not None:
                bars.append(bar)
    return sorted(bars, key=lambda b: -b.length)


def label_region(grey: np.ndarray, bar: Bar, text_height: float) -> tuple[np.ndarray, int, int, float]:
    """The 8-bit region around a bar where its label lies (the bar's grey black, the field white, the bar painted
    over, scaled for OCR), the region's top-left corner in the image and the scale."""
    length, thick = bar.col1 - bar.col0, bar.row1 - bar.row0
    margin = max(int(0.6 * length), 6 * thick, 24)
    top, left = max(bar.row0 - margin, 0), max(bar.col0 - length, 0)
    region = grey[top:bar.row1 + margin, left:bar.col1 + length].copy()
    field, level = float(np.median(region)), float(np.median(grey[bar.row0:bar.row1, bar.col0:bar.col1]))
    region[bar.row0 - top - 1:bar.row1 - top + 1, max(bar.col0 - left - 2, 0):bar.col1 - left + 2] = field
    span = field - level if abs(field - level) > 0.2 else (0.5 if level < 0.5 else -0.5)
    ink = np.clip((region - level) / span, 0, 1)  # the bar's grey (the label's, as a rule) black, the field white
    scale = _text_scale(ink, text_height)
    image = Image.fromarray((ink * 255).astype(np.uint8))
    size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
    return np.asarray(image.resize(size, Image.LANCZOS)), top, left, scale


def _text_scale(ink: np.ndarray, text_height: float) -> float:
    """How much to enlarge (or shrink) a label region so that its characters are about ``text_height`` pixels
    tall. Characters: dark blobs about as tall as wide."""
    labels, _ = ndimage.label(ink < 0.5)
    heights = [box[0].stop - box[0].start for box in ndimage.find_objects(labels)
               if 4 <= box[0].stop - box[0].start <= ink.shape[0] // 2
               and box[1].stop - box[1].start <= 2 * (box[0].stop - box[0].start)]
    return float(np.clip(text_height / (np.median(heights) if heights else 10), 0.5, 4))


def _nearest_label(grey: np.ndarray, bar: Bar, cfg: ScaleBarConfig) -> tuple[Length, float, float] | None:
    """The length read best and nearest the bar (the highest OCR confidence times nearness), the OCR's confidence
    in it and its nearness: 1 for a label centred above or below the bar within half its length, less the
    further it lies beyond the bar's ends or rows."""
    for text_height in cfg.text_heights:
        image, top, left, scale = label_region(grey, bar, text_height)
        found = _nearest(bar, label_lengths(ocr_words(image)), top, left, scale)
        if found:
            return found
    return None


def _nearest(bar: Bar, lengths, top: int, left: int, scale: float) -> tuple[Length, float, float] | None:
    length_px = max(bar.col1 - bar.col0, 1)
    best = None
    for length, word in lengths:
        row, col = top + word.centre[0] / scale, left + word.centre[1] / scale
        beyond_ends = max(0.0, abs(col - (bar.col0 + bar.col1) / 2) - length_px / 2) / length_px
        off_rows = max(0.0, abs(row - (bar.row0 + bar.row1) / 2) / length_px - 0.5)
        nearness = max(0.0, 1 - 0.5 * (beyond_ends + off_rows))
        if best is None or nearness * word.confidence > best[1] * best[2]:
            best = (length, word.confidence, nearness)
    return best


def read_scale_bar(pixels: np.ndarray, cfg: ScaleBarConfig = ScaleBarConfig()) -> ScaleReading | None:
    """The pixel size a scale bar in the image gives, or None (no bar, no label, or an implausible value).
    Raises ``OcrUnavailable`` when Tesseract is not installed."""
    grey = grey_unit(pixels)
    readings = []
    for bar in find_bars(grey, cfg)[:cfg.max_candidates]:
        label = _nearest_label(grey, bar, cfg)
        if label is None:
            continue
        length, ocr, nearness = label
        size = length.micrometres / bar.length
        if PLAUSIBLE_UM[0] <= size <= PLAUSIBLE_UM[1]:
            confidence = ocr * length.certainty * bar.quality * nearness
            readings.append(ScaleReading(size, str(length), length.value, length.unit, bar.length, bar.box,
                                         confidence))
    return max(readings, key=lambda r: r.confidence, default=None)


def read_scale_bar_file(path, cfg: ScaleBarConfig = ScaleBarConfig()) -> ScaleReading | None:
    """``read_scale_bar`` of an image file's first plane (ImageReadError when it does not load)."""
    return read_scale_bar(read_plane(path), cfg)
