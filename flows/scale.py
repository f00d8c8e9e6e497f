"""`grainloop scale`: the pixel size of a loop's images read from their burned-in scale bars, for the images
whose metadata has none, and a person's confirmation (or rejection) of the readings.

``detect_scales`` reads every image of the loop's image folder without a metadata pixel size that the record
(``dataset.scales``) does not hold yet (all of them with ``redo``) and saves the record; ``init`` and ``add`` run
it after importing (``scan_new_images``: a missing Tesseract is a warning there, not a failure). The sync reads
the record, never the images, so a dataset version's pixel sizes change only through it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from dataset.scales import (ACCEPT_CONFIDENCE, AWAITING, CONFIRMED, REJECTED, SCALES_FILE, USED, ScaleEntry,
                            ScaleRecord)
from flows.loop_config import LoopConfig
from foundation.instrument import read_pixel_size
from foundation.scalebar import ScaleBarConfig, ScaleReading, read_scale_bar_file
from foundation.scalelabel import OcrUnavailable
from foundation.semimage import ImageReadError, is_image


@dataclass(frozen=True)
class ImageScale:
    """One image as `grainloop scale read` lists it: its metadata's pixel size (or None) and the scale bar read."""

    path: Path
    metadata_um: Optional[float]
    reading: Optional[ScaleReading]
    error: str = ""  # why the file could not be read


@dataclass
class DetectReport:
    read: list[ScaleEntry] = field(default_factory=list)  # images read now
    with_metadata: int = 0  # images skipped: their metadata has a pixel size
    kept: int = 0  # images already in the record (not read again)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def count(self, state: str, threshold: float = ACCEPT_CONFIDENCE) -> int:
        return sum(e.state(threshold) == state for e in self.read)


def scale_record(loop: LoopConfig) -> ScaleRecord:
    return ScaleRecord.load(loop.state_dir / SCALES_FILE, loop.labeling.images)


def image_files(paths: Iterable[Path]) -> list[Path]:
    """The image files among ``paths`` and inside the folders among them, sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        found.extend(sorted(f for f in p.rglob("*") if f.is_file() and is_image(f)) if p.is_dir() else [p])
    return found


def read_image(path: Path, cfg: ScaleBarConfig = ScaleBarConfig()) -> ImageScale:
    """The metadata's pixel size and the scale bar of one file (OcrUnavailable propagates)."""
    try:
        metadata = read_pixel_size(path)
        return ImageScale(path, metadata.value_um, read_scale_bar_file(path, cfg))
    except ImageReadError as exc:
        return ImageScale(path, None, None, exc.reason)


def read_images(paths: Sequence[Path], cfg: ScaleBarConfig = ScaleBarConfig(),
                progress: Callable[[Path], None] = lambda p: None) -> list[ImageScale]:
    """Every image's scale (`grainloop scale read`): nothing is recorded."""
    out = []
    for path in image_files(paths):
        progress(path)
        out.append(read_image(path, cfg))
    return out


def detect_scales(loop: LoopConfig, redo: bool = False, cfg: ScaleBarConfig = ScaleBarConfig(),
                  progress: Callable[[Path], None] = lambda p: None) -> DetectReport:
    """Read the scale bars of the loop's images that lack a metadata pixel size and save them in the record."""
    record, report = scale_record(loop), DetectReport()
    for path in image_files([loop.labeling.images]):
        if not redo and record.get(path) is not None:
            report.kept += 1
            continue
        progress(path)
        found = read_image(path, cfg)
        if found.error:
            report.unreadable.append((record.key(path), found.error))
        elif found.metadata_um is not None:
            report.with_metadata += 1
        else:
            report.read.append(record.put(path, found.reading))
            if len(report.read) % 20 == 0:
                record.save()  # a long first scan keeps what it read
    record.save()
    return report


def scan_new_images(loop: LoopConfig, log: Callable[[str], None] = print) -> Optional[DetectReport]:
    """``detect_scales`` after `init` / `add`, summed up in one line; without Tesseract a warning, and None."""
    try:
        report = detect_scales(loop)
    except OcrUnavailable as exc:
        log(f"warning: scale bars not read ({exc}); run `grainloop scale detect` once it is installed")
        return None
    threshold = loop.samples.scale_bar_confidence
    if report.read:
        log(f"scale bars: {len(report.read)} image(s) without a metadata pixel size read: "
            f"{report.count(USED, threshold)} used (confidence >= {threshold}), "
            f"{report.count(AWAITING, threshold)} awaiting confirmation (`grainloop scale list`), "
            f"{sum(e.reading is None for e in report.read)} without a readable scale bar")
    return report


def decide(loop: LoopConfig, images: Sequence[str], decision: str, all_awaiting: bool = False) -> list[ScaleEntry]:
    """Confirm or reject the readings of ``images`` (paths inside the image folder, or files in it), or of every
    reading awaiting confirmation; KeyError naming images without a reading."""
    if decision not in (CONFIRMED, REJECTED):
        raise ValueError(f"unknown decision {decision!r}; valid: {CONFIRMED}, {REJECTED}")
    record = scale_record(loop)
    keys = [record.key(Path(i)) if Path(i).is_absolute() or Path(i).exists() else i for i in images]
    if all_awaiting:
        keys += [e.image for e in record.awaiting(loop.samples.scale_bar_confidence) if e.image not in keys]
    decided = record.decide(keys, decision)
    record.save()
    return decided
