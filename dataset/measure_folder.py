"""The labelled images of a dataset folder (a release folder, or a dataset version checked out) as the samples
`grainloop measure` reads: every manifest row's image and detector channels, its instance map where the row has
one (with the class map for the grains' classes), else its class map, and the pixel size the manifest records."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from dataset.manifest import MANIFEST, SCHEMA, SPLITS, ManifestRow, read_manifest
from foundation.schema import LabelSchema
from ml.data import SampleFiles
from ml.measure import MaskSample


class FolderError(ValueError):
    """A folder that is not a dataset folder, or a split it does not have."""


def _sample(folder: Path, row: ManifestRow) -> MaskSample:
    images = tuple(folder / p for p in (row.image, *row.channels))
    if row.instances:
        return MaskSample(SampleFiles(row.id, images, folder / row.instances), "instance", folder / row.mask,
                          row.pixel_size_um)
    return MaskSample(SampleFiles(row.id, images, folder / row.mask), "class", None, row.pixel_size_um)


def folder_samples(folder: Path, split: Optional[str] = None) -> tuple[MaskSample, ...]:
    """The samples of ``folder``'s manifest, of one split when given."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        raise FolderError(f"{folder} has no {MANIFEST}: not a release or dataset folder")
    if split is not None and split not in SPLITS:
        raise FolderError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    rows = [r for r in read_manifest(folder) if split is None or r.split == split]
    if not rows:
        raise FolderError(f"{folder} has no images" + (f" in split {split!r}" if split else ""))
    missing = sorted(str(p) for r in rows for p in (folder / r.image, folder / (r.instances or r.mask))
                     if not p.exists())
    if missing:
        raise FolderError(f"{len(missing)} file(s) of the manifest are missing (masks withheld?): "
                          + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    return tuple(_sample(folder, r) for r in rows)


def folder_schema(folder: Path) -> LabelSchema:
    """The label schema the folder was made with."""
    return LabelSchema.load(Path(folder) / SCHEMA)
