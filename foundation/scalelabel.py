"""Reading a scale bar's label ("5 µm", "500 nm", "0.5 mm"): Tesseract OCR through its command line, and the
parser of a length with its unit.

Tesseract is Debian's ``tesseract-ocr`` (installed by ``scripts/tesseract.sh``, which ``bin/test`` and CI run);
``GRAINLOOP_TESSERACT`` names another binary. Without it ``OcrUnavailable`` says how to install it. OCR reads the
micro sign as ``µ`` (U+00B5), ``μ`` (U+03BC), ``u``, or mistakes it for ``p``, ``j`` or ``y``: the mistaken
readings still count as micrometres, with a lower certainty.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TESSERACT_ENV = "GRAINLOOP_TESSERACT"
OCR_TIMEOUT_S = 60
UNIT_UM = {"nm": 1e-3, "um": 1.0, "mm": 1e3}  # units a scale bar is labelled in, in micrometres
_MICRO_SURE = "uµμ"  # U+00B5 MICRO SIGN, U+03BC GREEK SMALL LETTER MU, and the ASCII spelling "um"
_MICRO_MISREAD = ("ju", "pu", "p", "j", "y", "w")  # OCR's readings of a micro sign it did not recognise
MISREAD_CERTAINTY = 0.85  # the unit's certainty when its micro sign was read as another letter
_DIGIT_MISREAD = str.maketrans("SOolI", "50011")  # OCR's letters for digits: "Sum" is "5um"
_NUMBER = r"([\dSOolI]+(?:[.,][\dSOolI]+)?)"
_UNIT = r"([a-zµμ]{1,3}m)"
LENGTH = re.compile(rf"^{_NUMBER}\s*{_UNIT}$", re.IGNORECASE)


class OcrUnavailable(RuntimeError):
    """No Tesseract binary to read scale-bar labels with; the message says how to install one."""


@dataclass(frozen=True)
class Length:
    """A label read as a length: its number, its unit (nm, um, mm) and how sure the unit reading is."""

    value: float
    unit: str
    certainty: float = 1.0

    @property
    def micrometres(self) -> float:
        return self.value * UNIT_UM[self.unit]

    def __str__(self) -> str:
        return f"{self.value:g} {'µm' if self.unit == 'um' else self.unit}"


@dataclass(frozen=True)
class Word:
    """One word Tesseract found: its text, confidence (0-1) and box (left, top, width, height) in pixels."""

    text: str
    confidence: float
    left: int
    top: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.top + self.height / 2, self.left + self.width / 2


def _unit(text: str) -> tuple[str, float] | None:
    """The unit (nm, um, mm) of a unit text and its certainty; None when it is not a length unit."""
    t = text.lower()
    if t in ("nm", "mm"):
        return t, 1.0
    if len(t) == 2 and t[0] in _MICRO_SURE and t[1] == "m":
        return "um", 1.0
    if t[:-1] in _MICRO_MISREAD and t.endswith("m"):
        return "um", MISREAD_CERTAINTY
    return None


def parse_length(text: str) -> Length | None:
    """``text`` as a length ("5 µm", "500nm", "0,5 mm", "5 um"); None when it is not one."""
    found = LENGTH.match(text.strip().replace(" ", ""))
    unit = _unit(found.group(2)) if found else None
    if not unit or not (any(c.isdigit() for c in found.group(1)) or len(found.group(1)) == 1):
        return None  # a word of letters only ("Sol um") is no number
    number = found.group(1).translate(_DIGIT_MISREAD)
    try:
        value = float(number.replace(",", "."))
    except ValueError:  # letters left that are no digit
        return None
    certainty = unit[1] * (MISREAD_CERTAINTY if number != found.group(1) else 1.0)
    return Length(value, unit[0], certainty) if value > 0 else None


def tesseract() -> str:
    """The Tesseract binary to call; OcrUnavailable when there is none."""
    named = os.environ.get(TESSERACT_ENV)
    found = shutil.which(named or "tesseract")
    if not found:
        where = f"{TESSERACT_ENV}={named} is not an executable" if named else "no `tesseract` on the PATH"
        raise OcrUnavailable(f"cannot read scale-bar labels: {where}. Install Debian's tesseract-ocr "
                             "(`scripts/tesseract.sh` as root, or `apt-get install -y tesseract-ocr`)")
    return found


def ocr_words(grey: np.ndarray, psm: int = 11) -> list[Word]:
    """The words Tesseract reads in an 8-bit grey image (page segmentation mode ``psm``: 11 sparse text, 7 one
    line), with confidences and boxes; words it is unsure of come back with a low confidence."""
    binary = tesseract()
    with tempfile.TemporaryDirectory(prefix="grainloop-ocr-") as tmp:
        path = Path(tmp) / "label.png"
        Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8)).save(path)
        done = subprocess.run([binary, str(path), "stdout", "--psm", str(psm), "tsv"], capture_output=True,
                              text=True, timeout=OCR_TIMEOUT_S, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    if done.returncode != 0:
        raise OcrUnavailable(f"{binary} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    rows = csv.DictReader(io.StringIO(done.stdout), delimiter="\t", quoting=csv.QUOTE_NONE)
    return [Word(r["text"].strip(), max(float(r["conf"]), 0.0) / 100, int(r["left"]), int(r["top"]),
                 int(r["width"]), int(r["height"])) for r in rows if (r.get("text") or "").strip()]


def _joined(first: Word, second: Word) -> Word:
    """Two neighbouring words read as one ("500" "nm"): the lower confidence, the union of the boxes."""
    left, top = min(first.left, second.left), min(first.top, second.top)
    right = max(first.left + first.width, second.left + second.width)
    bottom = max(first.top + first.height, second.top + second.height)
    return Word(f"{first.text} {second.text}", min(first.confidence, second.confidence), left, top, right - left,
                bottom - top)


def _same_line(first: Word, second: Word) -> bool:
    gap = second.left - (first.left + first.width)
    return abs(first.centre[0] - second.centre[0]) < max(first.height, second.height) * 0.6 and \
        -2 <= gap <= 2 * max(first.height, second.height)


def label_lengths(words: list[Word]) -> list[tuple[Length, Word]]:
    """Every length among the words: one word ("5µm") or a number and its unit side by side ("5" "µm")."""
    found = []
    for i, word in enumerate(words):
        length = parse_length(word.text)
        if length:
            found.append((length, word))
        for other in words[i + 1:i + 3]:
            if _same_line(word, other) and (length := parse_length(f"{word.text}{other.text}")):
                found.append((length, _joined(word, other)))
    return found
