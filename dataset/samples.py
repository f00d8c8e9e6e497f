"""What a lab knows about its images beyond the pixels: the specimen each one comes from (a file-name pattern, so
images of one specimen share a split) and the pixel size for files whose metadata has none.

The TIFF metadata wins where it has a pixel size (``foundation.instrument``); the configured value only fills the
gaps, and the manifest row says which it was through its instrument column.
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Optional, Sequence

from dataset.store import Incoming
from foundation.instrument import read_instrument
from foundation.semimage import ImageReadError


@dataclass(frozen=True)
class SampleConfig:
    specimen_pattern: Optional[str] = None  # regex searched in the file name: group 1 (or the match) is the specimen
    pixel_size_um: Optional[float] = None  # for files whose metadata records none

    def __post_init__(self) -> None:
        if self.specimen_pattern:
            try:
                re.compile(self.specimen_pattern)
            except re.error as exc:
                raise ValueError(f"specimen pattern {self.specimen_pattern!r} is not a regular expression: {exc}")
        if self.pixel_size_um is not None and not self.pixel_size_um > 0:
            raise ValueError(f"pixel size must be > 0 micrometres, got {self.pixel_size_um}")


def specimen_key(source: str, pattern: Optional[str]) -> str:
    """The specimen a file belongs to ('' when no pattern is set or the name does not match)."""
    if not pattern:
        return ""
    found = re.search(pattern, Path(source).name)
    if not found:
        return ""
    return found.group(1) if found.groups() else found.group(0)


def _instrument(image: Path) -> tuple[Optional[float], str]:
    try:
        inst = read_instrument(image)
    except ImageReadError:
        return None, ""
    words = [w for w in (inst.vendor, inst.instrument, inst.detector) if w]
    return inst.pixel_size.value_um, " ".join(str(w) for w in words)


def describe(item: Incoming, cfg: SampleConfig) -> Incoming:
    """The item with its specimen group, pixel size (metadata, else the configured value) and instrument."""
    if item.refused:
        return item
    pixel, instrument = _instrument(item.image)
    prov = dict(item.provenance)
    prov.setdefault("pixel_size_um", pixel if pixel is not None else cfg.pixel_size_um)
    if instrument:
        prov.setdefault("instrument", instrument)
    group = specimen_key(str(prov.get("source") or item.image.name), cfg.specimen_pattern)
    return replace(item, group=item.group or (f"specimen:{group}" if group else ""), provenance=prov)


def describe_all(items: Iterable[Incoming], cfg: SampleConfig) -> list[Incoming]:
    return [describe(i, cfg) for i in items]


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
