"""Adding images with masks to a dataset folder: new rows get a frozen split, changed masks update in place."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import yaml
from rich.progress import track

from foundation.atomic import copy_atomic, write_atomic
from foundation.schema import LabelSchema
from dataset.manifest import CHANNELS, SCHEMA, ManifestRow, read_manifest, sha256_file, write_manifest
from dataset.splits import SplitConfig, assign
from ml.io import ImageReadError, read_channels, read_mask, write_mask
from ml.targets import MaskValueError, check_mask_values

PROVENANCE = ("source", "ls_task_id", "ls_annotation_ids", "annotators", "updated_at", "pixel_size_um",
              "pixel_size_source", "instrument", "agreement", "edit_cost", "policy", "license", "attribution")


@dataclass(frozen=True)
class Incoming:
    """An image and its mask(s) to add; ``group`` (a specimen id) keeps related images in one split."""

    id: str
    image: Path
    mask: Optional[Path]  # class map; None: grains of class 1 from the instance map
    instances: Optional[Path] = None
    group: str = ""
    provenance: dict = field(default_factory=dict)
    refused: str = ""  # why the item cannot be added at all (e.g. a path from Label Studio leaving its folder)
    channels: tuple[Path, ...] = ()  # the same field seen by further detectors (or neighbouring slices), in order


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)


def ensure_schema(data_dir: Path, schema: LabelSchema) -> None:
    """Write schema.yaml into a new dataset; refuse to mix masks of another schema into an existing one."""
    path = Path(data_dir) / SCHEMA
    if path.exists():
        current = LabelSchema.load(path)
        if current.hash != schema.hash:
            raise ValueError(f"{data_dir} uses label schema {current.name!r} ({current.hash}), not {schema.name!r} "
                             f"({schema.hash}); version another schema in another dataset")
        return
    write_atomic(path, yaml.safe_dump(schema.to_dict(), sort_keys=True))


def _checked_masks(item: Incoming, schema: LabelSchema) -> tuple[np.ndarray, Optional[np.ndarray]]:
    shape = read_channels([item.image, *item.channels]).shape[1:]  # channels of another size are refused
    instances = read_mask(item.instances) if item.instances else None
    if item.mask is None and instances is None:
        raise ImageReadError(item.image, "neither a class map nor an instance map was given")
    mask = read_mask(item.mask) if item.mask else (instances > 0).astype(np.uint8)
    check_mask_values(mask, schema, str(item.mask or item.instances))
    for m, p in ((mask, item.mask), (instances, item.instances)):
        if m is not None and m.shape != shape:
            raise ImageReadError(p, f"mask shape {m.shape} differs from image shape {shape}")
    if not mask.any():
        raise ImageReadError(item.mask or item.instances, "empty mask: nothing labelled")
    return mask, instances


def _row(item: Incoming, sha: str, split: str, group: str, schema: LabelSchema) -> ManifestRow:
    prov = {k: item.provenance[k] for k in PROVENANCE if item.provenance.get(k) is not None}
    for k in ("ls_annotation_ids", "annotators"):
        if k in prov:
            prov[k] = tuple(prov[k])
    channels = tuple(f"{CHANNELS}/c{k}/{item.id}{p.suffix.lower()}" for k, p in enumerate(item.channels, start=1))
    return ManifestRow(id=item.id, image=f"images/{item.id}{item.image.suffix.lower()}", mask=f"masks/{item.id}.png",
                       instances=f"instances/{item.id}.png" if item.instances else "", sha256=sha, split=split,
                       group=group, schema_hash=schema.hash, channels=channels, **prov)


def _write_files(data_dir: Path, row: ManifestRow, item: Incoming, mask, instances) -> None:
    (data_dir / row.image).parent.mkdir(parents=True, exist_ok=True)
    if not (data_dir / row.image).exists() or sha256_file(data_dir / row.image) != row.sha256:
        copy_atomic(item.image, data_dir / row.image)  # masks too: a killed write leaves the old file
    for source, dest in zip(item.channels, row.channels):
        (data_dir / dest).parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(source, data_dir / dest)
    write_mask(data_dir / row.mask, mask.astype(np.uint8))
    if instances is not None:
        write_mask(data_dir / row.instances, instances)
    else:  # an image whose grains were split before and are not now (another annotation): its old map goes
        (data_dir / f"instances/{row.id}.png").unlink(missing_ok=True)


def _same_masks(data_dir: Path, old: ManifestRow, mask: np.ndarray, instances) -> bool:
    if not np.array_equal(read_mask(data_dir / old.mask), mask):
        return False
    if instances is None:
        return not old.instances
    return bool(old.instances) and np.array_equal(read_mask(data_dir / old.instances), instances)


class _Adder:
    def __init__(self, data_dir: Path, schema: LabelSchema, cfg: SplitConfig):
        self.dir, self.schema, self.cfg = Path(data_dir), schema, cfg
        self.rows = {r.id: r for r in read_manifest(self.dir)}
        self.by_sha = {r.sha256: r.id for r in self.rows.values()}
        self.frozen = {r.group: r.split for r in self.rows.values()}
        self.report = AddReport()

    def add(self, item: Incoming) -> None:
        if item.refused:
            self.report.skipped.append((item.id, item.refused))
            return
        try:
            mask, instances = _checked_masks(item, self.schema)
        except (ImageReadError, MaskValueError) as exc:
            self.report.skipped.append((item.id, str(exc)))
            return
        sha = sha256_file(item.image)
        old = self.rows.get(item.id)
        if self.by_sha.get(sha, item.id) != item.id:
            self.report.skipped.append((item.id, f"same image (sha256) as {self.by_sha[sha]}, already in the dataset"))
            return
        group = old.group if old else (item.group or sha)
        row = _row(item, sha, old.split if old else assign(group, self.frozen, self.cfg), group, self.schema)
        if old and old.sha256 == sha and _same_masks(self.dir, old, mask, instances) and old == row:  # == ignores extra
            self.report.unchanged.append(item.id)
            return
        _write_files(self.dir, row, item, mask, instances)
        self.rows[row.id], self.by_sha[sha], self.frozen[group] = row, row.id, row.split
        (self.report.updated if old else self.report.added).append(row.id)


def add_items(data_dir: Path, items: Sequence[Incoming], schema: LabelSchema, cfg: SplitConfig = SplitConfig(),
              progress: bool = False) -> AddReport:
    """Copy items into data_dir and rewrite the manifest once; bad items are skipped with their reason."""
    ensure_schema(data_dir, schema)
    adder = _Adder(data_dir, schema, cfg)
    for item in track(items, description="adding to the dataset", disable=not progress):
        adder.add(item)
    if adder.report.changed:
        write_manifest(adder.dir, list(adder.rows.values()))
    return adder.report
