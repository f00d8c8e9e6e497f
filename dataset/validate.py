"""Checks a dataset folder before it becomes a version; every problem is reported, nothing is changed."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rich.progress import track

from foundation.schema import LabelSchema
from dataset.dropped import DROPPED, read_dropped
from dataset.manifest import CHANNELS, SPLITS, ManifestRow, read_manifest, sha256_file
from ml.io import ImageReadError, read_channels, read_mask
from ml.targets import MaskValueError, check_mask_values


@dataclass(frozen=True)
class Problem:
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class DatasetInvalid(ValueError):
    """The dataset cannot be versioned; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the dataset:\n{shown}{more}")


def _duplicates(rows: Sequence[ManifestRow], key: str, what: str) -> list[Problem]:
    seen: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        seen[getattr(r, key)].append(r.id)
    return [Problem(f"manifest rows {ids}", f"{what} {k[:16]} appears {len(ids)} times")
            for k, ids in seen.items() if len(ids) > 1]


def _split_leaks(rows: Sequence[ManifestRow], key: str) -> list[Problem]:
    splits: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        splits[getattr(r, key)].add(r.split)
    return [Problem(f"{key} {k[:16]}", f"in several splits: {sorted(s)}") for k, s in splits.items() if len(s) > 1]


def check_rows(rows: Sequence[ManifestRow], schema: LabelSchema) -> list[Problem]:
    """Manifest-level checks: unique ids and images, no image or group in two splits, known splits, one schema."""
    problems = _duplicates(rows, "id", "id") + _duplicates(rows, "sha256", "image sha256")
    problems += _split_leaks(rows, "sha256") + _split_leaks(rows, "group")
    problems += [Problem(r.id, f"{len(r.channels) + 1} channels; the dataset's images have {len(rows[0].channels) + 1}")
                 for r in rows if len(r.channels) != len(rows[0].channels)]
    problems += [Problem(r.id, f"unknown split {r.split!r}; valid: {', '.join(SPLITS)}") for r in rows if r.split not in SPLITS]
    return problems + [Problem(r.id, f"label schema {r.schema_hash} differs from the dataset's {schema.hash}")
                       for r in rows if r.schema_hash != schema.hash]


def _check_files(data_dir: Path, row: ManifestRow, schema: LabelSchema) -> list[Problem]:
    try:
        if sha256_file(data_dir / row.image) != row.sha256:
            return [Problem(row.image, "sha256 differs from the manifest")]
        shape = read_channels([data_dir / p for p in (row.image, *row.channels)]).shape[1:]
        mask = read_mask(data_dir / row.mask)
        check_mask_values(mask, schema, row.mask)
        masks = [mask] + ([read_mask(data_dir / row.instances)] if row.instances else [])
    except (ImageReadError, FileNotFoundError) as exc:
        return [Problem(row.id, str(exc))]
    except MaskValueError as exc:
        return [Problem(row.mask, str(exc))]
    return [Problem(row.id, f"mask shape {m.shape} differs from image shape {shape}") for m in masks if m.shape != shape]


def _orphans(data_dir: Path, rows: Sequence[ManifestRow]) -> list[Problem]:
    listed = {p for r in rows for p in (r.image, r.mask, r.instances, *r.channels) if p}
    found = {p.relative_to(data_dir).as_posix() for sub in ("images", "masks", "instances", CHANNELS)
             for p in (data_dir / sub).rglob("*") if p.is_file()}
    return [Problem(p, "file not in the manifest") for p in sorted(found - listed)]


def _history(data_dir: Path) -> list[Problem]:
    """dropped.csv (rows earlier syncs removed, dataset/dropped.py) must be readable; its rows are not data."""
    try:
        read_dropped(data_dir)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        return [Problem(DROPPED, str(exc))]
    return []


def validate(data_dir: Path, schema: LabelSchema, progress: bool = False) -> list[ManifestRow]:
    """The manifest's rows if the folder is a valid dataset, else DatasetInvalid listing every problem."""
    data_dir = Path(data_dir)
    rows = read_manifest(data_dir)
    problems = check_rows(rows, schema) + _orphans(data_dir, rows) + _history(data_dir)
    for row in track(rows, description="validating", disable=not progress):
        problems += _check_files(data_dir, row, schema)
    if problems:
        raise DatasetInvalid(problems)
    return rows
