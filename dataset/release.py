"""A benchmark release of one dataset version: files, COCO JSON, frozen splits and a dataset card."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

from rich.progress import track

from foundation.schema import LabelSchema
from dataset.annotators import Credits, credits
from dataset.card import COCO_FILE, CROISSANT_FILE, ReleaseInfo, card
from dataset.coco import image_annotations
from dataset.croissant import croissant, validate
from dataset.licenses import UNKNOWN, apply, coco_licenses
from dataset.manifest import SCHEMA, ManifestRow, by_split, read_manifest, write_manifest
from ml.io import read_mask

WITHHELD_SPLIT = "test"  # the split whose masks a blind release keeps private


def coco(data_dir: Path, rows: Sequence[ManifestRow], schema: LabelSchema, progress: bool = False,
         license_urls: Mapping[str, str] | None = None) -> dict:
    """The COCO document of the rows: each image with its ``license`` (an id into ``licenses``) and attribution."""
    licenses, license_id = coco_licenses(rows, license_urls)
    images, anns = [], []
    for n, row in enumerate(track(rows, description="COCO annotations", disable=not progress), start=1):
        class_map = read_mask(data_dir / row.mask)
        inst = read_mask(data_dir / row.instances) if row.instances else None
        images.append({"id": n, "file_name": row.image, "height": int(class_map.shape[0]),
                       "width": int(class_map.shape[1]), "license": license_id[row.license or UNKNOWN],
                       "attribution": row.attribution, "grainloop_id": row.id, "split": row.split})
        anns += image_annotations(class_map, inst, n, len(anns) + 1, schema)
    categories = [{"id": i, "name": c.name} for i, c in enumerate(schema.classes, start=1)]
    return {"info": {"description": schema.name}, "licenses": licenses, "images": images, "annotations": anns,
            "categories": categories}


def released_rows(rows: Sequence[ManifestRow], info: ReleaseInfo) -> tuple[list[ManifestRow], Credits]:
    """The rows as published: licenses applied, annotator accounts replaced by names (with consent) or
    pseudonyms; and the credits that say which."""
    credit = credits([a for r in rows for a in r.annotators], info.annotators)
    out = [replace(r, annotators=tuple(credit.label[a.strip().lower()] for a in r.annotators if a.strip()))
           for r in apply(rows, info.licenses)]
    return out, credit


def _copy(data_dir: Path, out: Path, rels: Sequence[str]) -> None:
    for rel in rels:
        if rel:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data_dir / rel, out / rel)


def _copy_files(data_dir: Path, out: Path, rows: Sequence[ManifestRow], private: Path | None = None) -> None:
    """Every row's files into out; a test row's masks into private instead when the test masks are withheld."""
    for row in rows:
        hidden = private is not None and row.split == WITHHELD_SPLIT
        _copy(data_dir, out, (row.image, *row.channels) if hidden else (row.image, row.mask, row.instances,
                                                                          *row.channels))
        if hidden:
            _copy(data_dir, private, (row.mask, row.instances))
    shutil.copyfile(data_dir / SCHEMA, out / SCHEMA)


def split_coco(doc: dict, split: str) -> tuple[dict, dict]:
    """The COCO document without the annotations of one split's images (all images still listed), and that split's
    images with their annotations."""
    ids = {im["id"] for im in doc["images"] if im["split"] == split}
    public = {**doc, "annotations": [a for a in doc["annotations"] if a["image_id"] not in ids]}
    private = {**doc, "images": [im for im in doc["images"] if im["id"] in ids],
               "annotations": [a for a in doc["annotations"] if a["image_id"] in ids]}
    return public, private


def write_release(data_dir: Path, out: Path, info: ReleaseInfo, progress: bool = False,
                  withhold_test_masks: Path | None = None) -> Path:
    """Write the release folder from a checked-out dataset version; returns the card's path. With
    ``withhold_test_masks`` the test split's masks, instance maps and COCO annotations go to that private folder
    instead (the manifest and splits still list the test images, whose images stay public)."""
    data_dir, out = Path(data_dir), Path(out)
    schema = LabelSchema.load(data_dir / SCHEMA)
    rows, credit = released_rows(read_manifest(data_dir), info)
    private = Path(withhold_test_masks) if withhold_test_masks is not None else None
    if private is not None and private.resolve().is_relative_to(out.resolve()):
        raise ValueError(f"the private folder {private} must lie outside the release folder {out}")
    out.mkdir(parents=True, exist_ok=True)
    _copy_files(data_dir, out, rows, private)
    write_manifest(out, rows)
    (out / "splits").mkdir(exist_ok=True)
    for split, ids in by_split(rows).items():
        (out / "splits" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    doc = coco(data_dir, rows, schema, progress, info.licenses.urls)
    public = doc
    if private is not None:
        private.mkdir(parents=True, exist_ok=True)
        public, hidden = split_coco(doc, WITHHELD_SPLIT)
        (private / COCO_FILE).write_text(json.dumps(hidden))
    (out / COCO_FILE).write_text(json.dumps(public))
    (out / "release.json").write_text(json.dumps({**info.to_dict(), "images": len(rows),
                                                  "grains": len(doc["annotations"]),
                                                  "withheld_test_masks": private is not None}, indent=1))
    text = card(rows, doc, schema, info, credit)
    if private is not None:
        text += (f"\n## Blind scoring\n\nThe {WITHHELD_SPLIT} split's masks and COCO annotations are withheld: "
                 "its images are public, its masks are not. Submit predictions for them to be scored "
                 "(`grainloop score`).\n")
    (out / "README.md").write_text(text)
    (out / CROISSANT_FILE).write_text(json.dumps(croissant(out, rows, schema, info, credit, private is not None),
                                                 indent=1))
    if problems := validate(out / CROISSANT_FILE):
        raise ValueError(f"{out / CROISSANT_FILE} does not validate: " + "; ".join(problems))
    return out / "README.md"
