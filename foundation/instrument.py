"""What the SEM software wrote into an image file: pixel size (and where it came from), vendor, detector,
microscope, high voltage and working distance, read in one pass over the first TIFF page's tags.

Pixel-size readers, tried in order:

- Zeiss SmartSEM: tag 34118 ``CZ_SEM``, entry ``ap_image_pixel_size`` (else ``ap_pixel_size``), e.g. ``2.5 nm``;
- FEI / Thermo Fisher: tag 34682 ``FEI_HELIOS`` or 34680 ``FEI_SFEG``, INI text, ``[Scan] PixelWidth`` in metres;
- OME-XML image description: ``Pixels/@PhysicalSizeX`` with ``PhysicalSizeXUnit`` (OME's default unit is µm);
- ImageJ image description with ``unit=micron`` (or nm, mm, ...) and the XResolution tag (pixels per unit);
- plain TIFF resolution with ResolutionUnit CENTIMETER (as ``ml.synthetic`` writes it).

An inch resolution (72, 96, 300 dpi: what most software writes by default) is never taken as a pixel size, and
nothing is ever guessed: when no reader applies the pixel size is unknown and measurements stay in pixels.
Only TIFFs are read; other formats carry no instrument metadata here.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import tifffile

from foundation.semimage import ImageReadError, is_tiff

UNKNOWN = "unknown"
_MICROMETRES = {"pm": 1e-6, "nm": 1e-3, "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0,
                "micrometer": 1.0, "micrometre": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}
CZ_SEM, FEI_SFEG, FEI_HELIOS = 34118, 34680, 34682
DESCRIPTION, X_RESOLUTION, RESOLUTION_UNIT = 270, 282, 296
FEI_KEYS = (("Beam", "HV"), ("Scan", "PixelWidth"), ("Scan", "PixelHeight"), ("Stage", "WorkingDistance"),
            ("Detectors", "Name"), ("System", "SystemType"), ("Beam", "Spot"))
ZEISS_KEYS = ("ap_image_pixel_size", "ap_wd", "ap_actualkv", "ap_mag", "dp_detector_type", "sv_serial_number")

Tags = Mapping[int, Any]  # TIFF tag code -> value as tifffile decodes it (FEI and Zeiss tags as dicts)
Scalar = Union[int, float, str, bool]


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


@dataclass(frozen=True)
class Instrument:
    """The instrument metadata of one image file; every field None when the file does not say."""

    pixel_size: PixelSize
    vendor: Optional[str] = None  # "FEI" (FEI / Thermo Fisher) or "Zeiss"
    detector: Optional[str] = None  # FEI [Detectors] Name, Zeiss dp_detector_type
    instrument: Optional[str] = None  # FEI [System] SystemType, Zeiss sv_serial_number
    high_voltage_kv: Optional[float] = None  # FEI [Beam] HV, Zeiss ap_actualkv
    working_distance_mm: Optional[float] = None  # FEI [Stage] WorkingDistance, Zeiss ap_wd
    entries: Mapping[str, Scalar] = field(default_factory=dict)  # the vendor entries, JSON-safe, with "vendor"


def user_pixel_size(value_um: float) -> PixelSize:
    return PixelSize(float(value_um), "user")


def to_micrometres(value: float, unit: str) -> float | None:
    """``value`` in ``unit`` as micrometres; None for a unit that is not a length (pixel, inch, '')."""
    factor = _MICROMETRES.get(unit.strip().lower().replace("\\u00b5", "µ"))
    return None if factor is None else float(value) * factor


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _zeiss_quantity(entry: Any) -> tuple[float, str] | None:
    """A Zeiss entry (name, number, unit) as (number, unit)."""
    if isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[1], (int, float)):
        return float(entry[1]), str(entry[2])
    return None


def _zeiss_text(entry: Any) -> str | None:
    return str(entry[1]) if isinstance(entry, tuple) and len(entry) >= 2 else None


def _zeiss_pixel(tags: Tags, description: str) -> PixelSize | None:
    sem = _dict(tags.get(CZ_SEM))
    for key in ("ap_image_pixel_size", "ap_pixel_size"):
        quantity = _zeiss_quantity(sem.get(key))
        um = to_micrometres(*quantity) if quantity else None
        if um:
            return PixelSize(um, f"zeiss CZ_SEM {key}")
    return None


def _fei_pixel(tags: Tags, description: str) -> PixelSize | None:
    for code, name in ((FEI_HELIOS, "FEI_HELIOS"), (FEI_SFEG, "FEI_SFEG")):
        width = _dict(_dict(tags.get(code)).get("Scan")).get("PixelWidth")
        if isinstance(width, (int, float)) and width > 0:
            return PixelSize(float(width) * 1e6, f"fei {name} [Scan] PixelWidth")
    return None


def _ome_pixel(tags: Tags, description: str) -> PixelSize | None:
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


def _x_resolution(tags: Tags) -> float | None:
    res = tags.get(X_RESOLUTION)  # pixels per resolution unit, as a (numerator, denominator) pair
    if not res or not res[0] or not res[1]:
        return None
    return res[0] / res[1]


def _imagej_pixel(tags: Tags, description: str) -> PixelSize | None:
    unit = re.search(r"^unit=(.+)$", description, re.M) if description.startswith("ImageJ=") else None
    per_unit = _x_resolution(tags)
    um = to_micrometres(1.0 / per_unit, unit.group(1)) if unit and per_unit else None
    return PixelSize(um, f"imagej unit={unit.group(1).strip()} + XResolution") if um else None


def _centimetre_pixel(tags: Tags, description: str) -> PixelSize | None:
    per_cm = _x_resolution(tags) if int(tags.get(RESOLUTION_UNIT, 2)) == 3 else None  # 3 = centimetre
    return PixelSize(1e4 / per_cm, "tiff XResolution (centimetre)") if per_cm else None


PIXEL_READERS: tuple[Callable[[Tags, str], PixelSize | None], ...] = (
    _zeiss_pixel, _fei_pixel, _ome_pixel, _imagej_pixel, _centimetre_pixel)


def pixel_size_from_tags(tags: Tags) -> PixelSize:
    description = str(tags.get(DESCRIPTION) or "")
    for reader in PIXEL_READERS:
        found = reader(tags, description)
        if found is not None:
            return found
    return PixelSize(None, f"{UNKNOWN} (no Zeiss, FEI, OME, ImageJ or centimetre resolution metadata)")


def _scalar(value: Any) -> Scalar:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def _number(value: Any, scale: float = 1.0) -> float | None:
    return float(value) * scale if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fei_fields(tags: Tags) -> dict[str, Any]:
    meta = {**_dict(tags.get(FEI_SFEG)), **_dict(tags.get(FEI_HELIOS))}  # HELIOS wins, as in tifffile
    if not meta:
        return {}
    found = {f"{s}.{k}": meta[s][k] for s, k in FEI_KEYS if k in _dict(meta.get(s))}
    name, system = found.get("Detectors.Name"), found.get("System.SystemType")
    return {"vendor": "FEI", "detector": None if name is None else str(name),
            "instrument": None if system is None else str(system),
            "high_voltage_kv": _number(found.get("Beam.HV"), 1e-3),  # volts
            "working_distance_mm": _number(found.get("Stage.WorkingDistance"), 1e3),  # metres
            "entries": {k: _scalar(v) for k, v in found.items()}}


def _zeiss_fields(tags: Tags) -> dict[str, Any]:
    sem = _dict(tags.get(CZ_SEM))
    if not sem:
        return {}
    kv, wd = _zeiss_quantity(sem.get("ap_actualkv")), _zeiss_quantity(sem.get("ap_wd"))
    wd_um = to_micrometres(*wd) if wd else None
    volts = {"kv": 1.0, "v": 1e-3}.get(kv[1].strip().lower()) if kv else None
    return {"vendor": "Zeiss", "detector": _zeiss_text(sem.get("dp_detector_type")),
            "instrument": _zeiss_text(sem.get("sv_serial_number")),
            "high_voltage_kv": kv[0] * volts if kv and volts else None,
            "working_distance_mm": None if wd_um is None else wd_um * 1e-3,
            "entries": {k: _scalar(sem[k]) for k in ZEISS_KEYS if k in sem}}


def instrument_from_tags(tags: Tags) -> Instrument:
    """The metadata in one TIFF page's tags; Zeiss values win over FEI ones where a file has both."""
    fei, zeiss = _fei_fields(tags), _zeiss_fields(tags)
    values = {**fei, **{k: v for k, v in zeiss.items() if v is not None}}
    values["entries"] = {**_labelled(fei), **_labelled(zeiss)}
    return Instrument(pixel_size_from_tags(tags), **values)


def _labelled(found: dict[str, Any]) -> dict[str, Scalar]:
    return {"vendor": found["vendor"], **found["entries"]} if found else {}


def read_tags(path: Path) -> dict[int, Any]:
    """The tags of the first TIFF page that carry instrument metadata, decoded by tifffile."""
    codes = (CZ_SEM, FEI_SFEG, FEI_HELIOS, DESCRIPTION, X_RESOLUTION, RESOLUTION_UNIT)
    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages.first.tags
            return {code: tags.valueof(code) for code in codes if code in tags}
    except Exception as exc:  # not a TIFF, truncated, no such file
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc


def read_instrument(path: Path | str) -> Instrument:
    """The instrument metadata of an image file (nothing but an unknown pixel size for a non-TIFF).

    Raises ImageReadError for a TIFF that cannot be opened.
    """
    path = Path(path)
    if not is_tiff(path):
        return Instrument(PixelSize(None, f"{UNKNOWN} (no pixel-size metadata is read from "
                                          f"{path.suffix or 'this'} files)"))
    return instrument_from_tags(read_tags(path))


def read_pixel_size(path: Path | str) -> PixelSize:
    """The pixel size recorded in an image file, or PixelSize(None, 'unknown ...') saying why not."""
    return read_instrument(path).pixel_size


def resolve_pixel_size(user_um: float | None, path: Path | str | None) -> PixelSize:
    """The user's value when given, else the file's, else unknown."""
    if user_um is not None:
        return user_pixel_size(user_um)
    return read_pixel_size(path) if path is not None else PixelSize(None, f"{UNKNOWN} (no image file)")
