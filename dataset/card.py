"""A release's dataset card: the Hugging Face dataset-card YAML header, then markdown with counts per class and
split, provenance, licenses, and a citation that names only annotators who agreed to be named."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import yaml

from dataset.annotators import Annotator, Credits
from dataset.licenses import KNOWN, UNKNOWN, LicenseChoice, license_url
from dataset.manifest import MANIFEST, SPLITS, ManifestRow, by_split
from foundation.schema import LabelSchema

COCO_FILE = "annotations.coco.json"
CROISSANT_FILE = "croissant.json"
TAGS = ("scanning-electron-microscopy", "microscopy", "materials-science", "grain-segmentation", "grainloop")
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
HF_LICENSE = {"ODbL-1.0": "odbl"}  # Hugging Face ids that are not the SPDX id lower-cased


@dataclass(frozen=True)
class ReleaseInfo:
    """What the release is: the version tag and the hashes that pin it, where it is published, who made it, which
    license applies to images without their own, and the annotator list (who may be named)."""

    tag: str
    data_md5: str = ""
    git_sha: str = ""
    title: str = "grainloop SEM grain segmentation benchmark"
    url: str = ""  # where the release is published (a DOI resolver URL or a web page)
    creators: tuple[str, ...] = ()  # maintainers, named first in the citation
    licenses: LicenseChoice = field(default_factory=LicenseChoice)
    annotators: tuple[Annotator, ...] = ()
    rai: Mapping[str, object] = field(default_factory=dict)  # Croissant RAI properties that replace the defaults

    def to_dict(self) -> dict:
        return {"tag": self.tag, "data_md5": self.data_md5, "git_sha": self.git_sha, "title": self.title,
                "url": self.url, "creators": list(self.creators), "default_license": self.licenses.default}


def size_category(n: int) -> str:
    return next((name for top, name in SIZE_CATEGORIES if n < top), "n>1M")


def hf_license(license_id: str) -> str:
    """The Hugging Face card's id of an SPDX license (``other`` for licenses it does not list)."""
    if license_id not in KNOWN:
        return "other"
    return HF_LICENSE.get(license_id, license_id.lower())


def header(rows: Sequence[ManifestRow], schema: LabelSchema, info: ReleaseInfo) -> dict:
    """The card's YAML metadata, in the fields and vocabulary of Hugging Face dataset cards."""
    licenses = sorted({r.license or UNKNOWN for r in rows}) or [info.licenses.default]
    ids = sorted({hf_license(lic) for lic in licenses})
    out = {"pretty_name": f"{info.title} ({info.tag})", "license": ids[0] if len(ids) == 1 else ids}
    if "other" in ids:
        others = [lic for lic in licenses if hf_license(lic) == "other"]
        out["license_name"] = ", ".join(others)
        out["license_link"] = license_url(others[0], info.licenses.urls)
    creators = {"expert-generated" if r.annotators else "found" for r in rows}
    sources = {"original" if r.ls_task_id is not None else f"extended|{r.source or 'unknown'}" for r in rows}
    return {**out, "annotations_creators": sorted(creators) or ["expert-generated"],
            "source_datasets": sorted(sources) or ["original"], "size_categories": [size_category(len(rows))],
            "task_categories": ["image-segmentation"], "task_ids": ["semantic-segmentation", "instance-segmentation"],
            "tags": [*TAGS, f"schema-{schema.name}"]}


def authors(info: ReleaseInfo, credit: Credits) -> tuple[str, ...]:
    """The citation's authors: the release's creators, then annotators who agreed to be named (no one else)."""
    return tuple(dict.fromkeys((*info.creators, *credit.named)))


def citation(info: ReleaseInfo, credit: Credits) -> str:
    """A BibTeX entry; its authors are the creators and the consenting annotators only."""
    people = authors(info, credit)
    lines = [f"@misc{{grainloop_{info.tag.replace('-', '_')},", f"  title = {{{info.title}, {info.tag}}},"]
    lines += [f"  author = {{{' and '.join(people)}}},"] if people else []
    lines += [f"  note = {{Dataset version {info.tag}}},"]
    lines += [f"  howpublished = {{\\url{{{info.url}}}}},"] if info.url else []
    return "\n".join(lines + ["}"])


def _license_lines(rows: Sequence[ManifestRow], info: ReleaseInfo) -> list[str]:
    counts, urls = Counter(r.license or UNKNOWN for r in rows), info.licenses.urls
    parts = [f"{lic} ({n} image{'s' * (n != 1)}" + (f", {license_url(lic, urls)}" if license_url(lic, urls) else "")
             + ")" for lic, n in sorted(counts.items())]
    credited = sum(1 for r in rows if r.attribution)
    return ["## License", "", "- Images and masks: " + "; ".join(parts) + ".",
            f"- Attribution: per image in `{MANIFEST}` (`license`, `attribution`) and in `{COCO_FILE}` (each image's "
            f"`license` id into `licenses`, and its `attribution`); {credited} of {len(rows)} images name one.", ""]


def card(rows: Sequence[ManifestRow], doc: dict, schema: LabelSchema, info: ReleaseInfo, credit: Credits) -> str:
    """The dataset card: YAML header, counts per class and split, provenance, licenses, how to cite."""
    split_of = {im["id"]: im["split"] for im in doc["images"]}
    counts = {s: Counter() for s in SPLITS}
    for ann in doc["annotations"]:
        counts[split_of[ann["image_id"]]][schema.class_names[ann["category_id"]]] += 1
    splits = by_split(rows)
    table = ["| split | images | " + " | ".join(c.name for c in schema.classes) + " |",
             "|---|---:|" + "---:|" * len(schema.classes)]
    table += [f"| {s} | {len(splits[s])} | " + " | ".join(str(counts[s][c.name]) for c in schema.classes) + " |"
              for s in SPLITS]
    sources = Counter("Label Studio" if r.ls_task_id is not None else (r.source or "unknown") for r in rows)
    channels = "`channels/cK/` (further detector channels, listed in the manifest), " if any(
        r.channels for r in rows) else ""
    named = [", ".join(credit.named)] if credit.named else []
    unnamed = [f"{credit.unnamed} not named (annotator-N in the manifest)"] if credit.unnamed else []
    who = (f"- Annotators: {len(credit.label)} ({'; '.join(named + unnamed)})." if credit.label
           else "- Annotators: none recorded (masks imported with the images, not annotated in Label Studio).")
    return "\n".join([
        "---", yaml.safe_dump(header(rows, schema, info), sort_keys=False).rstrip(), "---", "",
        f"# {info.title} — {info.tag}", "",
        f"{len(rows)} images with {len(doc['annotations'])} annotated grains, label schema `{schema.name}` "
        f"(hash `{schema.hash}`; classes: {', '.join(schema.class_names[1:])}).", "",
        "## Images, and grains per class, by split", "", *table, "",
        "## Provenance", "",
        f"- Dataset version: `{info.tag}` (DVC md5 `{info.data_md5 or 'n/a'}`, git `{info.git_sha or 'n/a'}`).",
        "- Sources: " + ", ".join(f"{k} ({v})" for k, v in sources.most_common()) + ".", who,
        "- Splits are frozen: a group (image sha256 or specimen id) keeps its split in every later version.",
        "- Files: `images/`, `masks/` (PNG class maps, 0 = background), `instances/` (PNG instance maps where "
        f"annotated), {channels}`{COCO_FILE}` (COCO polygons; RLE for grains with holes), `{MANIFEST}`, "
        f"`splits/*.txt`, `{CROISSANT_FILE}` (Croissant 1.0 metadata with its Responsible-AI fields).", "",
        *_license_lines(rows, info),
        "## Citation", "", "```bibtex", citation(info, credit), "```", ""])


def read_header(text: str) -> dict:
    """The YAML header of a card's text (between the first two ``---`` lines)."""
    if not text.startswith("---\n"):
        raise ValueError("the card has no YAML header")
    return yaml.safe_load(text[4:text.index("\n---\n", 4)])
