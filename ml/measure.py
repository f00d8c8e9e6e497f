"""Measuring grains (the `grainloop measure` verb): grain tables, size distributions and outlines of masks or a
model's predictions, with a summary.json that counts every grain found as measured or dropped; size statistics
to ISO 9276 with the edge correction and bootstrap intervals (``ml.grain_stats``) and ASTM E112 grain size numbers
(``ml.astm_e112``)."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Optional, TypeVar

import pandas as pd

from foundation.instrument import PixelSize, resolve_pixel_size
from foundation.schema import LabelSchema
from ml.astm_e112 import E112Config, e112_image, e112_summary
from ml.banner import detect_banner
from ml.bootstrap import BootstrapConfig
from ml.config import to_dict
from ml.data import SampleFiles, check_mask_kind, find_samples
from ml.distributions import plot_distributions, summarise
from ml.edge_correction import add_edge_weights
from ml.grain_stats import StatsConfig, write_statistics
from ml.grain_types import GrainTypes, classify, types_summary
from ml.instances import (InstanceConfig, Instances, instances_from_class_map, instances_from_instance_map,
                          instances_from_probabilities)
from ml.io import ArraySource, ImageReadError, list_images, read_channels, read_mask
from ml.morphometry import GrainImage, dropped_rows, measure as measure_grains, outlines
from ml.preprocess import fit

if TYPE_CHECKING:
    from ml.checkpoint import ModelArtifact

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


@dataclass(frozen=True)
class MaskSample:
    """One labelled image of a dataset folder (a release, a dataset version): its files, what its mask is, the
    class map that gives an instance map's grains their classes, and the pixel size its manifest records."""

    files: SampleFiles
    mask_kind: str = "class"
    class_map: Optional[Path] = None
    pixel_size_um: Optional[float] = None


@dataclass(frozen=True)
class MeasureSpec:
    """Where grains come from: masks (class or instance maps), a model predicting the images, or the samples of
    a dataset folder (``source`` names it)."""

    masks: Optional[Path] = None
    mask_kind: str = "class"
    images: tuple[Path, ...] = ()
    model: Optional[Path] = None
    pixel_size_um: Optional[float] = None
    instances: InstanceConfig = field(default_factory=InstanceConfig)
    include_cut: bool = False  # grains cut by an edge in the size distributions
    edge_correction: bool = True  # Miles-Lantuejoul weights in the ISO 9276 statistics
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    e112: E112Config = field(default_factory=E112Config)
    samples: tuple[MaskSample, ...] = ()
    source: str = ""
    types: Optional[GrainTypes] = None  # grain types from the channel means (a `type` column, types.csv)

    def __post_init__(self) -> None:
        if self.include_cut and self.edge_correction:
            raise ValueError("--include-cut needs --no-edge-correction: the edge correction weights whole grains only")
        if [self.masks is not None, self.model is not None, bool(self.samples)].count(True) != 1:
            raise ValueError("give either --masks DIR (with optional --images), --images DIR --model PATH, or a "
                             "labelled dataset (--release DIR, --dataset TAG)")
        if self.model is not None and not self.images:
            raise ValueError("--model needs --images DIR to predict")
        if self.types is not None and not self.images and not self.samples:
            raise ValueError("--types needs --images (the registered element maps) for the grains' channel means")
        check_mask_kind(self.mask_kind)


def git_sha() -> Optional[str]:
    """The short commit of the repository holding this code, or None outside a git checkout."""
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


def _track(items: Iterable[T], description: str, progress: bool) -> Iterable[T]:
    """A progress bar on stderr (stdout stays for results) when asked; the items unchanged otherwise."""
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, console=Console(stderr=True), disable=not progress)


def _mask_instances(sample: MaskSample, spec: MeasureSpec, schema: LabelSchema) -> Instances:
    files, mask = sample.files, read_mask(sample.files.mask)
    if sample.mask_kind == "instance":
        classes = read_mask(sample.class_map) if sample.class_map else None
        return instances_from_instance_map(mask, classes, spec.instances.min_area)
    top = schema.num_outputs - 1
    if mask.min() < 0 or mask.max() > top:
        names = ", ".join(f"{i}={n}" for i, n in enumerate(schema.output_names))
        raise ImageReadError(files.mask, f"values outside 0..{top} of schema {schema.name!r} ({names})")
    return instances_from_class_map(mask, schema, spec.instances)


def _mask_samples(spec: MeasureSpec) -> list[MaskSample]:
    if spec.samples:
        return list(spec.samples)
    if spec.images:
        files = find_samples(spec.images, spec.masks)
    else:
        files = [SampleFiles(p.relative_to(spec.masks).with_suffix("").as_posix(), (), p)
                 for p in list_images(spec.masks)]
    return [MaskSample(f, spec.mask_kind) for f in files]


def _pixel_size(spec: MeasureSpec, sample: MaskSample) -> PixelSize:
    """The user's value, else the manifest's, else the image file's (or the mask's)."""
    if spec.pixel_size_um is None and sample.pixel_size_um is not None:
        return PixelSize(sample.pixel_size_um, "dataset manifest")
    return resolve_pixel_size(spec.pixel_size_um, sample.files.images[0] if sample.files.images else sample.files.mask)


def _from_masks(spec: MeasureSpec, schema: LabelSchema, progress: bool) -> Iterator[GrainImage]:
    for sample in _track(_mask_samples(spec), "measuring", progress):
        f = sample.files
        image = read_channels(f.images) if f.images else None
        banner = detect_banner(image) if image is not None else None
        yield GrainImage(f.id, _mask_instances(sample, spec, schema), _pixel_size(spec, sample), image, banner,
                         schema.class_names)


def predicted_instances(net, artifact: ModelArtifact, image, cfg: InstanceConfig) -> tuple[Instances, object]:
    """Grains predicted on one (C, H, W) image with the model's own preprocessing, and the banner box."""
    from ml.evaluate import fitting_config  # torch: loaded only when a model predicts
    from ml.predict import PredictConfig, predict_image

    state = fit(image, artifact.preprocess)
    window = replace(fitting_config(state.model_shape, PredictConfig()), probabilities=True)
    pred = predict_image(net, ArraySource(image), window, state=state)
    return instances_from_probabilities(pred.probabilities, artifact.schema, cfg), pred.banner


def _from_model(spec: MeasureSpec, progress: bool) -> Iterator[GrainImage]:
    from ml.checkpoint import load_model  # torch: loaded only when a model predicts

    net, artifact = load_model(spec.model)
    for f in _track(find_samples(spec.images), "predicting and measuring", progress):
        image = read_channels(f.images)
        inst, banner = predicted_instances(net, artifact, image, spec.instances)
        px = resolve_pixel_size(spec.pixel_size_um, f.images[0])
        yield GrainImage(f.id, inst, px, image, banner, artifact.schema.class_names)


def _image_row(item: GrainImage, table: pd.DataFrame, include_cut: bool) -> dict:
    col = "ecd_um" if item.pixel_size.known else "ecd_px"
    sizes = summarise(table, col, include_cut)["all"] if not table.empty else {"n": 0}
    return {"image": item.name, "grains_found": item.instances.count + len(item.instances.dropped),
            "measured": len(table), "dropped": len(item.instances.dropped),
            "cut_by_edge": int(table["cut_by_edge"].sum()) if not table.empty else 0,
            **item.pixel_size.to_dict(), **{f"ecd_{k}": v for k, v in sizes.items()}}


def _write_tables(out: Path, grains: pd.DataFrame, dropped: list[dict], images: list[dict], e112: list[dict]) -> None:
    grains.to_csv(out / "grains.csv", index=False)
    grains.to_parquet(out / "grains.parquet", index=False)
    dropped_table = pd.DataFrame(dropped, columns=["image", "grain_before_drop", "area_px", "reason"])
    dropped_table.to_csv(out / "dropped.csv", index=False)
    pd.DataFrame(images).to_csv(out / "images.csv", index=False)
    pd.DataFrame(e112).to_csv(out / "astm_e112.csv", index=False)


def _size_column(images: list[dict]) -> tuple[str, str]:
    """ecd_um and um when every image has a pixel size, else ecd_px and px."""
    known = bool(images) and all(r["pixel_size_um"] is not None for r in images)
    return ("ecd_um", "um") if known else ("ecd_px", "px")


def with_model_decoding(spec: MeasureSpec) -> MeasureSpec:
    """``auto`` splitting with a model that carries a decoding tuned on its validation images: that decoding
    (method, h and minimum area), so the summary records what was used."""
    if spec.model is None or spec.instances.method != "auto":
        return spec
    from ml.checkpoint import read_artifact  # torch: loaded only when a model predicts
    from ml.decoding import decoding_config

    decoding = read_artifact(spec.model)[0].decoding
    return replace(spec, instances=decoding_config(decoding)) if decoding else spec


def run_measure(spec: MeasureSpec, schema: LabelSchema, out: Path, progress: bool = False) -> dict:
    """Measure every image; write grains.csv and .parquet, dropped.csv, images.csv, astm_e112.csv,
    distribution.csv, moments.csv, outlines.geojson, plots/ and summary.json (with what produced them), and with
    grain types types.csv. Every grain found is measured or listed in dropped.csv."""
    out.mkdir(parents=True, exist_ok=True)
    spec = with_model_decoding(spec)
    tables, dropped, images, features, e112 = [], [], [], [], []
    for item in (_from_model(spec, progress) if spec.model is not None else _from_masks(spec, schema, progress)):
        table = add_edge_weights(measure_grains(item), item.instances.labels.shape, item.banner)
        tables.append(table)
        dropped += dropped_rows(item)
        images.append(_image_row(item, table, spec.include_cut))
        e112.append({"image": item.name, **e112_image(item.instances.labels, item.banner, item.pixel_size.value_um,
                                                       spec.e112)})
        features += outlines(item)
    grains = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    typed = classify(grains, spec.types) if spec.types is not None else None
    if typed is not None:
        grains = typed[0]
        typed[1].to_csv(out / "types.csv", index=False)
    _write_tables(out, grains, dropped, images, e112)
    (out / "outlines.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    summary = _summary(spec, grains, dropped, images)
    summary["astm_e112"] = _clean(e112_summary(e112, [r["pixel_size_um"] for r in images]))
    if typed is not None:
        summary["grain_types"] = _clean(types_summary(typed[1], spec.types))
    if not grains.empty:
        plot_distributions(grains, out / "plots", summary["size_column"], summary["units"], spec.include_cut)
        stats = StatsConfig(spec.edge_correction, spec.include_cut, spec.bootstrap)
        summary["iso9276"] = _clean(write_statistics(out, grains, summary["size_column"], summary["units"], stats,
                                                     [r["image"] for r in images]))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str, allow_nan=False) + "\n")
    return summary


def _clean(value):
    """NaN (an empty distribution) as null, at any depth of dicts and lists, so summary.json is strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return [_clean(v) for v in value] if isinstance(value, list) else value


def _inputs(spec: MeasureSpec) -> dict:
    """The spec as JSON, a dataset folder's samples by their count (their files are in images.csv)."""
    return {**{f.name: to_dict(getattr(spec, f.name)) for f in fields(spec) if f.name != "samples"},
            "samples": len(spec.samples)}


def _summary(spec: MeasureSpec, grains: pd.DataFrame, dropped: list[dict], images: list[dict]) -> dict:
    column, units = _size_column(images)
    found = sum(r["grains_found"] for r in images)
    if found != len(grains) + len(dropped):  # count in = count out, or the run is wrong
        raise RuntimeError(f"{found} grains found but {len(grains)} measured + {len(dropped)} dropped")
    return _clean({
        "tool": "grainloop measure", "git_sha": git_sha(), "inputs": _inputs(spec),
        "images": len(images),
        "grains_found": found, "grains_measured": len(grains), "grains_dropped": len(dropped),
        "grains_cut_by_edge": int(grains["cut_by_edge"].sum()) if not grains.empty else 0,
        "units": units, "size_column": column,
        "pixel_size_note": "from each image" if units == "um"
        else "pixel size unknown for some images: sizes in pixels",
        "pixel_sizes": sorted({f"{r['pixel_size_um']} ({r['pixel_size_source']})" for r in images}),
        "distribution": summarise(grains, column, spec.include_cut) if not grains.empty else {},
        "distribution_note": "number and area D10/D50/D90 of the whole grains unweighted (cut grains too with "
                             "include_cut); iso9276 has the edge-corrected statistics with their intervals",
    })
