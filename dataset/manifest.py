"""The manifest: one typed row per image with its files, hash, split and provenance; CSV on disk."""
from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from foundation.atomic import write_atomic
from foundation.digest import sha256_file  # noqa: F401  (re-exported: the manifest's image hash)

MANIFEST = "manifest.csv"
SCHEMA = "schema.yaml"
SPLITS = ("train", "val", "test")
CHANNELS = "channels"  # data/channels/cK/: further detector channels of each image, when the loop has them


@dataclass(frozen=True)
class ManifestRow:
    """One image of a dataset version. Paths are relative to the data folder; lists are ';'-joined in the CSV."""

    id: str
    image: str
    mask: str
    sha256: str
    split: str
    group: str
    schema_hash: str
    instances: str = ""
    source: str = ""
    ls_task_id: Optional[int] = None
    ls_annotation_ids: tuple[int, ...] = ()
    annotators: tuple[str, ...] = ()
    updated_at: str = ""
    pixel_size_um: Optional[float] = None
    pixel_size_source: str = ""  # metadata: ..., scale-bar ..., user (configured)
    instrument: str = ""
    agreement: Optional[float] = None
    edit_cost: Optional[float] = None
    channels: tuple[str, ...] = ()  # further detector channels of the image (channels/cK/...), in order
    policy: str = ""  # how the mask came from its annotations: latest, reviewed, majority or staple
    license: str = ""  # the image's SPDX license id (dataset/licenses.py); empty: the release's default
    attribution: str = ""  # who to credit for the image, as its license asks
    extra: dict = field(default_factory=dict, compare=False, repr=False)


FIELDS = tuple(f.name for f in dataclasses.fields(ManifestRow) if f.name != "extra")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def _parse(name: str, text: str):
    kind = ManifestRow.__dataclass_fields__[name].type
    if "tuple[int" in kind:
        return tuple(int(v) for v in text.split(";") if v)
    if "tuple[str" in kind:
        return tuple(v for v in text.split(";") if v)
    if text == "" and "Optional" in kind:
        return None
    if "Optional[int]" in kind:
        return int(text)
    if "Optional[float]" in kind:
        return float(text)
    return text


def row_from_dict(d: dict) -> ManifestRow:
    unknown = set(d) - set(FIELDS)
    if {"id", "image", "mask", "sha256", "split"} - set(d):
        raise ValueError(f"manifest row lacks columns: {sorted({'id', 'image', 'mask', 'sha256', 'split'} - set(d))}")
    values = {k: _parse(k, d.get(k) or "") for k in FIELDS if k in d}
    return ManifestRow(**values, extra={k: d[k] for k in unknown})


def format_manifest(rows: Iterable[ManifestRow]) -> str:
    """CSV text, rows sorted by id, so the same rows always give the same bytes (and the same DVC hash)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r.id):
        writer.writerow({k: _cell(getattr(row, k)) for k in FIELDS})
    return buf.getvalue()


def write_manifest(data_dir: Path, rows: Sequence[ManifestRow]) -> Path:
    path = Path(data_dir) / MANIFEST
    write_atomic(path, format_manifest(rows))
    return path


def read_manifest(data_dir: Path) -> list[ManifestRow]:
    """Rows of data_dir/manifest.csv; an absent manifest is an empty dataset."""
    path = Path(data_dir) / MANIFEST
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [row_from_dict(d) for d in csv.DictReader(f)]


def by_split(rows: Sequence[ManifestRow]) -> dict[str, list[str]]:
    """Frozen split lists: ids per split, sorted."""
    return {s: sorted(r.id for r in rows if r.split == s) for s in SPLITS}
