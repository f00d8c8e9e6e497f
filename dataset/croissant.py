"""A release's Croissant 1.0 metadata (``croissant.json``, JSON-LD) with the Croissant RAI 1.0 fields, and its
validation with ``mlcroissant``.

The JSON-LD ``@context`` is written inline (the standard Croissant 1.0 context plus the ``rai`` prefix), so
reading the file back fetches nothing; files are described relative to the release folder (FileObjects with
their sha256, FileSets by glob), records come from the manifest, the split list and the COCO annotations.
"""
from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Sequence

import yaml

from dataset.annotators import Credits
from dataset.card import COCO_FILE, TAGS, ReleaseInfo, authors, citation
from dataset.licenses import UNKNOWN, license_url
from dataset.manifest import MANIFEST, SCHEMA, SPLITS, ManifestRow
from foundation.digest import sha256_file
from foundation.schema import LabelSchema

CROISSANT_1_0 = "http://mlcommons.org/croissant/1.0"
RAI_1_0 = "http://mlcommons.org/croissant/RAI/1.0"
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/", "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract", "field": "cr:field",
    "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject", "fileSet": "cr:fileSet", "format": "cr:format",
    "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath", "key": "cr:key",
    "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path", "recordSet": "cr:recordSet",
    "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated", "replace": "cr:replace",
    "samplingRate": "cr:samplingRate", "sc": "https://schema.org/", "separator": "cr:separator",
    "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform"}
SPLIT_URLS = {"train": "https://mlcommons.org/definitions/training_split",
              "val": "https://mlcommons.org/definitions/validation_split",
              "test": "https://mlcommons.org/definitions/test_split"}
RAI_PROPERTIES = tuple(f"rai:{p}" for p in (  # Croissant RAI 1.0, as mlcroissant reads them
    "dataCollection", "dataCollectionType", "dataCollectionMissingData", "dataCollectionRawData",
    "dataCollectionTimeframe", "dataImputationProtocol", "dataPreprocessingProtocol", "dataManipulationProtocol",
    "dataAnnotationProtocol", "dataAnnotationPlatform", "dataAnnotationAnalysis", "annotationsPerItem",
    "annotatorDemographics", "machineAnnotationTools", "dataBiases", "dataUseCases", "dataLimitations",
    "dataSocialImpact", "personalSensitiveInformation", "dataReleaseMaintenancePlan"))
MIME = {".png": "image/png", ".tif": "image/tiff", ".tiff": "image/tiff", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
COLUMNS = (("id", "sc:Text", "the image's id in the release"), ("image", "sc:Text", "image file, relative path"),
           ("mask", "sc:Text", "class-map PNG, relative path (0 = background)"),
           ("sha256", "sc:Text", "sha256 of the image file"), ("license", "sc:Text", "the image's SPDX license id"),
           ("attribution", "sc:Text", "who to credit for the image"), ("annotators", "sc:Text",
                                                                        "annotators (names or pseudonyms, ';'-joined)"))


def _file(name: str, folder: Path, fmt: str, about: str) -> dict:
    return {"@type": "cr:FileObject", "@id": name, "name": name, "description": about, "contentUrl": name,
            "encodingFormat": fmt, "sha256": sha256_file(folder / name)}


def _files(name: str, pattern: str, formats: Sequence[str], about: str) -> dict:
    return {"@type": "cr:FileSet", "@id": name, "name": name, "description": about,
            "encodingFormat": list(formats) if len(formats) > 1 else formats[0], "includes": pattern}


def _field(rs: str, name: str, kind: str, about: str, source: dict, **extra) -> dict:
    return {"@type": "cr:Field", "@id": f"{rs}/{name}", "name": name, "description": about, "dataType": kind,
            "source": source, **extra}


def distribution(folder: Path, rows: Sequence[ManifestRow], withheld: bool) -> list[dict]:
    image_formats = sorted({MIME.get(Path(r.image).suffix.lower(), "application/octet-stream") for r in rows})
    out = [_file(MANIFEST, folder, "text/csv", "one row per image: files, sha256, split, license, provenance"),
           _file(COCO_FILE, folder, "application/json", "COCO instance annotations (polygons, RLE for holes)"),
           _file(SCHEMA, folder, "application/x-yaml", "the label schema: classes in mask-value order"),
           _files("image-files", "images/*", image_formats or ["image/png"], "the SEM images"),
           _files("mask-files", "masks/*.png", ["image/png"], "class maps, one per image" + (
               " outside the test split (its masks are withheld)" if withheld else "")),
           _files("split-files", "splits/*.txt", ["text/plain"], "frozen split lists: one image id a line")]
    if any(r.instances for r in rows):
        out.append(_files("instance-files", "instances/*.png", ["image/png"], "instance maps (16-bit PNG)"))
    if channel_formats := sorted({MIME.get(Path(c).suffix.lower(), "application/octet-stream")
                                  for r in rows for c in r.channels}):
        out.append(_files("channel-files", "channels/*/*", channel_formats,
                          "further detector channels of each image (channels/cK/, listed in the manifest)"))
    return out


def record_sets(schema: LabelSchema) -> list[dict]:
    column = lambda c: {"fileObject": {"@id": MANIFEST}, "extract": {"column": c}}  # noqa: E731
    path = lambda fs: {"fileSet": {"@id": fs}, "extract": {"fileProperty": "filename"}}  # noqa: E731
    content = lambda fs: {"fileSet": {"@id": fs}, "extract": {"fileProperty": "content"}}  # noqa: E731
    coco = lambda p: {"fileObject": {"@id": COCO_FILE}, "extract": {"jsonPath": f"$.annotations[*].{p}"}}  # noqa: E731
    splits = {"@type": "cr:RecordSet", "@id": "splits", "name": "splits", "dataType": "cr:Split",
              "key": {"@id": "splits/name"}, "description": "the frozen splits", "field": [
                  {"@type": "cr:Field", "@id": "splits/name", "name": "name", "dataType": "sc:Text"},
                  {"@type": "cr:Field", "@id": "splits/url", "name": "url", "dataType": "sc:URL"}],
              "data": [{"splits/name": s, "splits/url": SPLIT_URLS[s]} for s in SPLITS]}
    images = {"@type": "cr:RecordSet", "@id": "images", "name": "images", "key": {"@id": "images/id"},
              "description": f"the images of the release, from {MANIFEST}",
              "field": [_field("images", n, k, a, column(n)) for n, k, a in COLUMNS]
              + [_field("images", "split", "sc:Text", "train, val or test", column("split"),
                        references={"field": {"@id": "splits/name"}})]}
    files = [{"@type": "cr:RecordSet", "@id": rs, "name": rs, "description": about,
              "field": [_field(rs, "file", "sc:Text", "file name", path(fs)),
                        _field(rs, "content", "sc:ImageObject", "the file's pixels", content(fs))]}
             for rs, fs, about in (("image_files", "image-files", "image files"),
                                   ("masks", "mask-files", f"class maps; classes of {SCHEMA}: "
                                                            + ", ".join(schema.class_names)))]
    grains = {"@type": "cr:RecordSet", "@id": "grains", "name": "grains",
              "description": "COCO annotations: one a grain",
              "field": [_field("grains", n, k, a, coco(n)) for n, k, a in (
                  ("id", "sc:Integer", "annotation id"), ("image_id", "sc:Integer", "COCO image id"),
                  ("category_id", "sc:Integer", "class (1.. in the schema's order)"),
                  ("area", "sc:Integer", "pixels"), ("bbox", "cr:BoundingBox", "x, y, width, height"))]}
    return [splits, images, *files, grains]


def _version(tag: str) -> str:
    found = re.search(r"(\d+)$", tag)
    return f"{int(found.group(1)) if found else 0}.0.0"


def rai_fields(rows: Sequence[ManifestRow], credit: Credits) -> dict:
    """The Croissant RAI 1.0 properties, stated from what the manifest records."""
    annotated = [r for r in rows if r.annotators]
    per_item = sorted({len(r.annotators) for r in annotated})
    span = f"{per_item[0]}-{per_item[-1]}" if len(per_item) > 1 else str(per_item[0]) if per_item else "0"
    kinds = ["Direct measurement"] + (["Manual Human Curator"] if annotated else []) + (
        ["Secondary Data analysis"] if len(annotated) < len(rows) else [])
    return {
        "rai:dataCollection": "Scanning-electron-microscope images of grains and particles; masks annotated in Label "
                              "Studio by the lab's annotators, or imported with their images from a labelled set "
                              "(source_datasets in the card, source in the manifest).",
        "rai:dataCollectionType": kinds,
        "rai:dataCollectionRawData": "The images as the instrument wrote them (TIFF metadata kept), unchanged.",
        "rai:dataPreprocessingProtocol": [
            "Annotations become PNG class maps (and instance maps) in the label schema's order; a large image "
            "annotated as tiles becomes one mask once every tile is annotated; images are not resampled."],
        "rai:dataAnnotationProtocol":
            "Annotators outline every grain of an image with the label schema's classes; once a model exists they "
            "correct its pre-annotation. A mask enters the dataset by the loop's policy (latest, reviewed, majority "
            "or STAPLE), recorded per image in the manifest's policy column.",
        "rai:dataAnnotationPlatform": ["Label Studio"],
        "rai:dataAnnotationAnalysis": [
            "Inter-annotator agreement (mean per-class IoU) and edit cost (1 - IoU with the pre-annotation) per image, "
            "in the manifest's agreement and edit_cost columns."],
        "rai:annotationsPerItem": f"{span} annotator(s) per annotated image; {len(annotated)} of {len(rows)} images "
                                  "annotated in Label Studio, the others imported with their masks.",
        "rai:machineAnnotationTools": ["grainloop's segmentation models (segmentation-models-pytorch) pre-annotate "
                                       "tasks, ranked by an active-learning score; annotators correct them."],
        "rai:dataBiases": [
            "Images come from the instruments, materials and imaging settings of the contributing lab; other "
            "detectors, magnifications and specimen preparations are under-represented.",
            "Pre-annotations may anchor annotators to the model's errors; edit cost records how much they changed."],
        "rai:dataLimitations": [
            "Boundaries between touching grains are ambiguous at the image's resolution; a mask is one annotator's "
            "or a consensus, not a physical ground truth.",
            "Pixel sizes are recorded only where the TIFF metadata or the lab gave one (manifest pixel_size_um)."],
        "rai:dataUseCases": ["Training and benchmarking segmentation of grains in SEM images; grain-size statistics."],
        "rai:personalSensitiveInformation": [
            "None in the images. Annotator accounts are replaced by pseudonyms (annotator-N) except for the "
            f"{len(credit.named)} annotator(s) recorded as agreeing to be named."],
        "rai:dataReleaseMaintenancePlan": "Each release is a frozen DVC dataset version (tag, DVC md5 and git commit "
                                          "in release.json); later versions only add images, so the test split "
                                          "only grows.",
    }


def load_rai(path: Path | None) -> dict:
    """A YAML mapping of RAI properties (``rai:...``: text or a list of texts) that replace the defaults."""
    if path is None:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of RAI properties ({', '.join(RAI_PROPERTIES)})")
    if unknown := sorted(set(data) - set(RAI_PROPERTIES)):
        raise ValueError(f"{path}: unknown RAI properties {', '.join(unknown)}; valid: {', '.join(RAI_PROPERTIES)}")
    if bad := sorted(k for k, v in data.items() if not (isinstance(v, str) or (
            isinstance(v, list) and all(isinstance(t, str) for t in v)))):
        raise ValueError(f"{path}: {', '.join(bad)} must be a text or a list of texts")
    return data


def croissant(folder: Path, rows: Sequence[ManifestRow], schema: LabelSchema, info: ReleaseInfo, credit: Credits,
              withheld: bool = False, published: datetime.date | None = None) -> dict:
    """The Croissant JSON-LD document of a written release folder (its files are hashed)."""
    licenses = sorted({r.license or UNKNOWN for r in rows})
    people = [{"@type": "sc:Person", "name": n} for n in authors(info, credit)]
    return {"@context": CONTEXT, "@type": "sc:Dataset", "conformsTo": [CROISSANT_1_0, RAI_1_0],
            "name": re.sub(r"[^A-Za-z0-9_-]+", "-", f"grainloop-{schema.name}-{info.tag}"),
            "description": f"{info.title}, {info.tag}: {len(rows)} SEM images with class maps, instance maps and "
                           f"COCO annotations (label schema {schema.name}).",
            "citeAs": citation(info, credit), "datePublished": (published or datetime.date.today()).isoformat(),
            "license": [license_url(lic, info.licenses.urls) or lic for lic in licenses],
            **({"url": info.url} if info.url else {}), "version": _version(info.tag),
            "keywords": list(TAGS), **({"creator": people} if people else {}),
            "distribution": distribution(folder, rows, withheld), "recordSet": record_sets(schema),
            **rai_fields(rows, credit), **info.rai}


def validate(path: Path) -> list[str]:
    """mlcroissant's errors for a Croissant file (empty when it validates); it reads only the file itself."""
    import mlcroissant as mlc

    try:
        dataset = mlc.Dataset(jsonld=Path(path))
    except mlc.ValidationError as exc:
        return [line for line in str(exc).splitlines() if line.strip()]
    return sorted(dataset.metadata.ctx.issues.errors)
