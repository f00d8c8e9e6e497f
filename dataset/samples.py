"""What a lab knows about its images beyond the pixels: the specimen each one comes from (a file-name pattern, so
images of one specimen share a split) and the pixel size for files whose metadata has none.

The TIFF metadata wins where it has a pixel size (``foundation.instrument``); the configured value only fills the
gaps, and a scale bar read from the image (``dataset.scales``) may too; the manifest row says which it was in its
pixel_size_source column.
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Optional, Sequence

from dataset.scales import ACCEPT_CONFIDENCE, ScaleRecord, choose_pixel_size
from dataset.store import Incoming
from foundation.instrument import PixelSize, read_instrument
from foundation.semimage import ImageReadError


@dataclass(frozen=True)
class SampleConfig:
    specimen_pattern: Optional[str] = None  # regex searched in the file name: group 1 (or the match) is the specimen
    pixel_size_um: Optional[float] = None  # for files whose metadata records none
    scale_bar_confidence: float = ACCEPT_CONFIDENCE  # an unconfirmed scale-bar reading is used from this on

    def __post_init__(self) -> None:
        if self.specimen_pattern:
            try:
                re.compile(self.specimen_pattern)
            except re.error as exc:
                raise ValueError(f"specimen pattern {self.specimen_pattern!r} is not a regular expression: {exc}")
        if self.pixel_size_um is not None and not self.pixel_size_um > 0:
            raise ValueError(f"pixel size must be > 0 micrometres, got {self.pixel_size_um}")
        if not 0 <= self.scale_bar_confidence <= 1:
            raise ValueError(f"scale-bar confidence must lie in 0-1, got {self.scale_bar_confidence}")


def sample_config(specimen_pattern: Optional[str] = None, pixel_size_um: Optional[float] = None,
                  scale_bar_confidence: Optional[float] = None) -> SampleConfig:
    """The configuration from command-line values; None keeps a default."""
    confidence = ACCEPT_CONFIDENCE if scale_bar_confidence is None else scale_bar_confidence
    return SampleConfig(specimen_pattern, pixel_size_um, confidence)


def specimen_key(source: str, pattern: Optional[str]) -> str:
    """The specimen a file belongs to ('' when no pattern is set or the name does not match)."""
    if not pattern:
        return ""
    found = re.search(pattern, Path(source).name)
    if not found:
        return ""
    return found.group(1) if found.groups() else found.group(0)


def _instrument(image: Path) -> tuple[PixelSize, str]:
    try:
        inst = read_instrument(image)
    except ImageReadError:
        return PixelSize(None), ""
    words = [w for w in (inst.vendor, inst.instrument, inst.detector) if w]
    return inst.pixel_size, " ".join(str(w) for w in words)


def describe(item: Incoming, cfg: SampleConfig, scales: Optional[ScaleRecord] = None) -> Incoming:
    """The item with its specimen group, pixel size and its source (``dataset.scales.choose_pixel_size``: the
    metadata, a scale bar, the configured value) and instrument."""
    if item.refused:
        return item
    metadata, instrument = _instrument(item.image)
    entry = scales.get(item.image) if scales else None
    pixel = choose_pixel_size(metadata, entry, cfg.pixel_size_um, cfg.scale_bar_confidence)
    prov = dict(item.provenance)
    if "pixel_size_um" not in prov and pixel.known:
        prov.update(pixel_size_um=pixel.value_um, pixel_size_source=pixel.source)
    if instrument:
        prov.setdefault("instrument", instrument)
    group = specimen_key(str(prov.get("source") or item.image.name), cfg.specimen_pattern)
    return replace(item, group=item.group or (f"specimen:{group}" if group else ""), provenance=prov)


def describe_all(items: Iterable[Incoming], cfg: SampleConfig,
                 scales: Optional[ScaleRecord] = None) -> list[Incoming]:
    return [describe(i, cfg, scales) for i in items]


def channel_files(image: Path, images: Path, channels: Sequence[Path]) -> Optional[tuple[Path, ...]]:
    """The image's other detector channels: the file at the same relative path in each channel folder (any
    image suffix); None when one is missing."""
    rel = Path(image).resolve().relative_to(Path(images).resolve())
    found = []
    for folder in channels:
        same = Path(folder) / rel
        match = same if same.is_file() else next(iter(sorted(same.parent.glob(f"{glob.escape(same.stem)}.*"))), None)
        if match is None:
            return None
        found.append(match)
    return tuple(found)


def attach_channels(items: Iterable[Incoming], images: Path, channels: Sequence[Path]) -> list[Incoming]:
    """Items with their channel files; an item missing one is refused with the folder it is missing from."""
    if not channels:
        return list(items)
    out = []
    for item in items:
        if item.refused:
            out.append(item)
            continue
        found = channel_files(item.image, images, channels)
        out.append(replace(item, channels=found) if found else
                   replace(item, refused=f"no file for {item.image.name} in every channel folder ({', '.join(map(str, channels))})"))
    return out
