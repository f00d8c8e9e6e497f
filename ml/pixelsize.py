"""The physical pixel size of an SEM image, read from what the instrument software wrote, or given by the user.

Readers, tried in order on the first page of a TIFF:

- Zeiss SmartSEM: tag 34118 ``CZ_SEM``, entry ``ap_image_pixel_size`` (else ``ap_pixel_size``), e.g. ``2.5 nm``;
- FEI / Thermo Fisher: tag 34682 ``FEI_HELIOS`` or 34680 ``FEI_SFEG``, INI text, ``[Scan] PixelWidth`` in metres;
- OME-XML image description: ``Pixels/@PhysicalSizeX`` with ``PhysicalSizeXUnit`` (OME's default unit is µm);
- ImageJ image description with ``unit=micron`` (or nm, mm, ...) and the XResolution tag (pixels per unit);
- plain TIFF resolution with ResolutionUnit CENTIMETER (as ``ml.synthetic`` writes it).

An inch resolution (72, 96, 300 dpi: what most software writes by default) is never taken as a pixel size, and
nothing is ever guessed: when no reader applies the pixel size is unknown and measurements stay in pixels.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import tifffile

from ml.io import TIFF_SUFFIXES

UNKNOWN = "unknown"
_MICROMETRES = {"pm": 1e-6, "nm": 1e-3, "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0,
                "micrometer": 1.0, "micrometre": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}


@dataclass(frozen=True)
class PixelSize:
    """Micrometres per pixel (None when unknown) and where the value came from."""

    value_um: float | None
    source: str = UNKNOWN

    def __post_init__(self) -> None:
        if self.value_um is not None and not self.value_um > 0:
            raise ValueError(f"pixel size must be > 0 micrometres, got {self.value_um!r} (from {self.source})")

    @property
    def known(self) -> bool:
        return self.value_um is not None

    @property
    def unit(self) -> str:
        """The length unit measurements are reported in: 'um' when known, else 'px'."""
        return "um" if self.known else "px"

    def to_dict(self) -> dict:
        return {"pixel_size_um": self.value_um, "pixel_size_source": self.source, "units": self.unit}


def user_pixel_size(value_um: float) -> PixelSize:
    return PixelSize(float(value_um), "user")


def to_micrometres(value: float, unit: str) -> float | None:
    """``value`` in ``unit`` as micrometres; None for a unit that is not a length (pixel, inch, '')."""
    factor = _MICROMETRES.get(unit.strip().lower().replace("\\u00b5", "µ"))
    return None if factor is None else float(value) * factor


def _zeiss(tags: Any, description: str) -> PixelSize | None:
    sem = tags.valueof(34118) or {}
    for key in ("ap_image_pixel_size", "ap_pixel_size"):
        entry = sem.get(key)
        if isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[1], (int, float)):
            um = to_micrometres(entry[1], entry[2])
            if um:
                return PixelSize(um, f"zeiss CZ_SEM {key}")
    return None


def _fei(tags: Any, description: str) -> PixelSize | None:
    for code, name in ((34682, "FEI_HELIOS"), (34680, "FEI_SFEG")):
        width = ((tags.valueof(code) or {}).get("Scan") or {}).get("PixelWidth")
        if isinstance(width, (int, float)) and width > 0:
            return PixelSize(float(width) * 1e6, f"fei {name} [Scan] PixelWidth")
    return None


def _ome(tags: Any, description: str) -> PixelSize | None:
    if "<OME" not in description[:1000]:
        return None
    try:
        root = ET.fromstring(description)
    except ET.ParseError:
        return None
    pixels = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    size = None if pixels is None else pixels.get("PhysicalSizeX")
    um = to_micrometres(float(size), pixels.get("PhysicalSizeXUnit", "µm")) if size else None
    return PixelSize(um, "ome PhysicalSizeX") if um else None


def _x_resolution(tags: Any) -> float | None:
    res = tags.valueof(282)  # XResolution: pixels per resolution unit, as a (numerator, denominator) pair
    if not res or not res[0] or not res[1]:
        return None
    return res[0] / res[1]


def _imagej(tags: Any, description: str) -> PixelSize | None:
    unit = re.search(r"^unit=(.+)$", description, re.M) if description.startswith("ImageJ=") else None
    per_unit = _x_resolution(tags)
    um = to_micrometres(1.0 / per_unit, unit.group(1)) if unit and per_unit else None
    return PixelSize(um, f"imagej unit={unit.group(1).strip()} + XResolution") if um else None


def _resolution_cm(tags: Any, description: str) -> PixelSize | None:
    per_cm = _x_resolution(tags) if int(tags.valueof(296, 2)) == 3 else None  # ResolutionUnit 3 = centimetre
    return PixelSize(1e4 / per_cm, "tiff XResolution (centimetre)") if per_cm else None


READERS: tuple[Callable[[Any, str], PixelSize | None], ...] = (_zeiss, _fei, _ome, _imagej, _resolution_cm)


def read_pixel_size(path: Path | str) -> PixelSize:
    """The pixel size recorded in an image file, or PixelSize(None, 'unknown ...') saying why not."""
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return PixelSize(None, f"{UNKNOWN} (no pixel-size metadata is read from {path.suffix or 'this'} files)")
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        description = str(tags.valueof(270, "") or "")
        for reader in READERS:
            found = reader(tags, description)
            if found is not None:
                return found
    return PixelSize(None, f"{UNKNOWN} (no Zeiss, FEI, OME, ImageJ or centimetre resolution metadata)")


def resolve_pixel_size(user_um: float | None, path: Path | str | None) -> PixelSize:
    """The user's value when given, else the file's, else unknown."""
    if user_um is not None:
        return user_pixel_size(user_um)
    return read_pixel_size(path) if path is not None else PixelSize(None, f"{UNKNOWN} (no image file)")
