"""The loop's record of scale bars read from its images (``foundation.scalebar``) and of what a person decided
about them, and the pixel size each image gets from it.

The record is a JSON file in the loop's state folder, keyed by the image's path inside the loop's image folder:
the reading (or none: no bar and label found) and a decision, ``confirmed`` or ``rejected``, once a person gave
one (``grainloop scale confirm`` / ``reject``). An image's pixel size, in order: its file's metadata; a confirmed
scale bar; the loop's configured pixel size (``samples.pixel_size_um``, one value for every file without
metadata); an unconfirmed scale bar read with at least ``samples.scale_bar_confidence`` (``ACCEPT_CONFIDENCE``).
A reading below that awaits confirmation and is not used; a rejected one never is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Optional

from foundation.atomic import write_atomic
from foundation.instrument import PixelSize
from foundation.scalebar import SCALE_BAR, ScaleReading

SCALES_FILE = "scale_bars.json"  # in the loop's state folder
ACCEPT_CONFIDENCE = 0.8  # a scale-bar reading at least this sure is used without a person confirming it
CONFIRMED, REJECTED = "confirmed", "rejected"
DECISIONS = (CONFIRMED, REJECTED)
# what an image's entry says, for `grainloop scale list` and `status`
USED, AWAITING, NO_BAR = "used", "awaiting confirmation", "no scale bar"


@dataclass(frozen=True)
class ScaleEntry:
    """One image's scale bar: the reading (None: no bar with a label was found) and a person's decision."""

    image: str  # path inside the loop's image folder
    reading: Optional[ScaleReading]
    decision: Optional[str] = None  # confirmed, rejected, or None (no one decided)

    def __post_init__(self) -> None:
        if self.decision not in (None, *DECISIONS):
            raise ValueError(f"unknown scale-bar decision {self.decision!r}; valid: {', '.join(DECISIONS)}")

    def state(self, threshold: float = ACCEPT_CONFIDENCE) -> str:
        if self.reading is None:
            return NO_BAR
        if self.decision:
            return self.decision
        return USED if self.reading.confidence >= threshold else AWAITING

    def pixel_size(self, threshold: float = ACCEPT_CONFIDENCE, confirmed_only: bool = False) -> Optional[PixelSize]:
        """The pixel size this entry gives: a confirmed reading, else (unless ``confirmed_only``) a reading at
        least ``threshold`` sure; None otherwise."""
        r = self.reading
        if r is None or self.decision == REJECTED:
            return None
        if self.decision == CONFIRMED:
            return PixelSize(r.pixel_size_um, f"{SCALE_BAR} confirmed: {r.label} over {r.bar_length_px:.1f} px")
        if confirmed_only or r.confidence < threshold:
            return None
        return PixelSize(r.pixel_size_um, f"{SCALE_BAR}: {r.label} over {r.bar_length_px:.1f} px, "
                                          f"confidence {r.confidence:.2f}")


def reading_from_dict(d: Optional[Mapping]) -> Optional[ScaleReading]:
    if not d:
        return None
    return ScaleReading(float(d["pixel_size_um"]), str(d["label"]), float(d["value"]), str(d["unit"]),
                        float(d["bar_length_px"]), tuple(int(v) for v in d["bar_box"]), float(d["confidence"]),
                        str(d.get("source", SCALE_BAR)))


class ScaleRecord:
    """The scale bars of a loop's images, read from and saved to one JSON file."""

    def __init__(self, path: Path, images: Path, entries: Mapping[str, ScaleEntry] = ()):
        self.path, self.images = Path(path), Path(images)
        self.entries: dict[str, ScaleEntry] = dict(entries)

    @classmethod
    def load(cls, path: Path, images: Path) -> "ScaleRecord":
        """The record at ``path`` (an empty one when there is none yet)."""
        path = Path(path)
        data = json.loads(path.read_text()) if path.is_file() else {}
        entries = {k: ScaleEntry(k, reading_from_dict(v.get("reading")), v.get("decision"))
                   for k, v in data.get("images", {}).items()}
        return cls(path, images, entries)

    def save(self) -> Path:
        images = {k: {"reading": e.reading.to_dict() if e.reading else None, "decision": e.decision}
                  for k, e in sorted(self.entries.items())}
        return write_atomic(self.path, json.dumps({"images": images}, indent=1, ensure_ascii=False) + "\n")

    def key(self, image: Path) -> str:
        """The image's key: its path inside the image folder (posix), or as given when it lies elsewhere."""
        image = Path(image)
        try:
            return image.resolve().relative_to(self.images.resolve()).as_posix()
        except ValueError:
            return image.as_posix()

    def get(self, image: Path) -> Optional[ScaleEntry]:
        return self.entries.get(self.key(image))

    def put(self, image: Path, reading: Optional[ScaleReading]) -> ScaleEntry:
        """Record a new reading; a decision on the same reading stays, a changed reading drops it."""
        key = self.key(image)
        old = self.entries.get(key)
        keep = old.decision if old and old.reading == reading else None
        self.entries[key] = ScaleEntry(key, reading, keep)
        return self.entries[key]

    def decide(self, keys: Iterable[str], decision: str) -> list[ScaleEntry]:
        """Confirm or reject the readings of these images; KeyError naming the images without a reading."""
        keys = list(keys)
        if decision not in DECISIONS:
            raise ValueError(f"unknown scale-bar decision {decision!r}; valid: {', '.join(DECISIONS)}")
        missing = [k for k in keys if k not in self.entries or self.entries[k].reading is None]
        if missing:
            raise KeyError(f"no scale-bar reading for {', '.join(missing)}: run `grainloop scale detect` first")
        for k in keys:
            self.entries[k] = replace(self.entries[k], decision=decision)
        return [self.entries[k] for k in keys]

    def awaiting(self, threshold: float = ACCEPT_CONFIDENCE) -> list[ScaleEntry]:
        """Readings that wait for a person: below the threshold, neither confirmed nor rejected."""
        return [e for _, e in sorted(self.entries.items()) if e.state(threshold) == AWAITING]


def choose_pixel_size(metadata: PixelSize, entry: Optional[ScaleEntry], configured_um: Optional[float],
                      threshold: float = ACCEPT_CONFIDENCE) -> PixelSize:
    """The pixel size an image gets (the order is in the module's docstring); unknown when nothing gives one."""
    if metadata.known:
        return replace(metadata, source=f"metadata: {metadata.source}")
    confirmed = entry.pixel_size(threshold, confirmed_only=True) if entry else None
    if confirmed:
        return confirmed
    if configured_um is not None:
        return PixelSize(configured_um, "user (configured)")
    return (entry.pixel_size(threshold) if entry else None) or metadata
