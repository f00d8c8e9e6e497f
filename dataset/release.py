"""A benchmark release of one dataset version: files, COCO JSON, frozen splits and a dataset card."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rich.progress import track

from foundation.schema import LabelSchema
from dataset.coco import image_annotations
from dataset.manifest import MANIFEST, SCHEMA, SPLITS, ManifestRow, by_split, read_manifest
from ml.io import read_mask

COCO_FILE = "annotations.coco.json"
WITHHELD_SPLIT = "test"  # the split whose masks a blind release keeps private


@dataclass(frozen=True)
class ReleaseInfo:
    """What the release is: the version tag and the hashes that pin it."""

    tag: str
    data_md5: str = ""
    git_sha: str = ""
    title: str = "grainloop SEM grain segmentation benchmark"


def coco(data_dir: Path, rows: Sequence[ManifestRow], schema: LabelSchema, progress: bool = False) -> dict:
    images, anns = [], []
    for n, row in enumerate(track(rows, description="COCO annotations", disable=not progress), start=1):
        class_map = read_mask(data_dir / row.mask)
        inst = read_mask(data_dir / row.instances) if row.instances else None
        images.append({"id": n, "file_name": row.image, "height": int(class_map.shape[0]),
                       "width": int(class_map.shape[1]), "grainloop_id": row.id, "split": row.split})
        anns += image_annotations(class_map, inst, n, len(anns) + 1, schema)
    categories = [{"id": i, "name": c.name} for i, c in enumerate(schema.classes, start=1)]
    return {"info": {"description": schema.name}, "images": images, "annotations": anns, "categories": categories}


def _class_counts(doc: dict, schema: LabelSchema) -> dict[str, Counter]:
    split_of = {im["id"]: im["split"] for im in doc["images"]}
    counts = {s: Counter() for s in SPLITS}
    for ann in doc["annotations"]:
        counts[split_of[ann["image_id"]]][schema.class_names[ann["category_id"]]] += 1
    return counts


def card(rows: Sequence[ManifestRow], doc: dict, schema: LabelSchema, info: ReleaseInfo) -> str:
    """The dataset card in markdown: counts per class and split, provenance, how to cite."""
    splits, counts = by_split(rows), _class_counts(doc, schema)
    table = ["| split | images | " + " | ".join(c.name for c in schema.classes) + " |",
             "|---|---:|" + "---:|" * len(schema.classes)]
    table += [f"| {s} | {len(splits[s])} | " + " | ".join(str(counts[s][c.name]) for c in schema.classes) + " |"
              for s in SPLITS]
    sources = Counter(r.source or "unknown" for r in rows)
    annotators = sorted({a for r in rows for a in r.annotators})
    channels = "`channels/cK/` (further detector channels, listed in the manifest), " if any(
        r.channels for r in rows) else ""
    return "\n".join([
        f"# {info.title} — {info.tag}", "",
        f"{len(rows)} images with {len(doc['annotations'])} annotated grains, label schema `{schema.name}` "
        f"(hash `{schema.hash}`; classes: {', '.join(schema.class_names[1:])}).", "",
        "## Images, and grains per class, by split", "", *table, "",
        "## Provenance", "",
        f"- Dataset version: `{info.tag}` (DVC md5 `{info.data_md5 or 'n/a'}`, git `{info.git_sha or 'n/a'}`).",
        "- Sources: " + ", ".join(f"{k} ({v})" for k, v in sources.most_common()) + ".",
        (f"- Annotators: {len(annotators)} ({', '.join(annotators)})." if annotators
         else "- Annotators: none recorded (masks imported with the images, not annotated in Label Studio)."),
        "- Splits are frozen: a group (image sha256 or specimen id) keeps its split in every later version.",
        "- Files: `images/`, `masks/` (PNG class maps, 0 = background), `instances/` (PNG instance maps where "
        f"annotated), {channels}`{COCO_FILE}` (COCO polygons; RLE for grains with holes), `{MANIFEST}`, "
        "`splits/*.txt`.", "",
        "## Citation", "", "```bibtex",
        f"@misc{{grainloop_{info.tag.replace('-', '_')},", f"  title = {{{info.title}, {info.tag}}},",
        "  author = {TODO: maintainers and annotators},", "  note = {Dataset version " + info.tag + "},",
        "  howpublished = {TODO: DOI or URL},", "}", "```", ""])


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
    for name in (MANIFEST, SCHEMA):
        shutil.copyfile(data_dir / name, out / name)


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
    schema, rows = LabelSchema.load(data_dir / SCHEMA), read_manifest(data_dir)
    private = Path(withhold_test_masks) if withhold_test_masks is not None else None
    if private is not None and private.resolve().is_relative_to(out.resolve()):
        raise ValueError(f"the private folder {private} must lie outside the release folder {out}")
    out.mkdir(parents=True, exist_ok=True)
    _copy_files(data_dir, out, rows, private)
    (out / "splits").mkdir(exist_ok=True)
    for split, ids in by_split(rows).items():
        (out / "splits" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    doc = coco(data_dir, rows, schema, progress)
    public = doc
    if private is not None:
        private.mkdir(parents=True, exist_ok=True)
        public, hidden = split_coco(doc, WITHHELD_SPLIT)
        (private / COCO_FILE).write_text(json.dumps(hidden))
    (out / COCO_FILE).write_text(json.dumps(public))
    (out / "release.json").write_text(json.dumps({**info.__dict__, "images": len(rows),
                                                  "grains": len(doc["annotations"]),
                                                  "withheld_test_masks": private is not None}, indent=1))
    text = card(rows, doc, schema, info)
    if private is not None:
        text += (f"\n## Blind scoring\n\nThe {WITHHELD_SPLIT} split's masks and COCO annotations are withheld: "
                 "its images are public, its masks are not. Submit predictions for them to be scored "
                 "(`grainloop score`).\n")
    (out / "README.md").write_text(text)
    return out / "README.md"
