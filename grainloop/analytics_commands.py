"""`grainloop measure | register`: grain tables, size distributions and outlines; co-registered channel stacks."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, Optional

import typer
from rich.console import Console

from grainloop.ml_commands import MaskKind, SchemaOpt
from grainloop.options import load_schema

if TYPE_CHECKING:  # the model code loads when a command runs, not when the CLI starts
    import pandas as pd

    from foundation.schema import LabelSchema
    from ml.data import SampleFiles
    from ml.instances import InstanceConfig, Instances
    from ml.morphometry import GrainImage
    from ml.register import RegisterConfig

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True)
ROOT = Path(__file__).resolve().parents[1]


def _instance_config(**kw) -> InstanceConfig:
    """InstanceConfig, imported when a measurement needs one."""
    from ml.instances import InstanceConfig

    return InstanceConfig(**kw)


@dataclass(frozen=True)
class MeasureSpec:
    """Where grains come from: masks (class or instance maps) or a model predicting the images."""

    masks: Optional[Path] = None
    mask_kind: str = "class"
    images: tuple[Path, ...] = ()
    model: Optional[Path] = None
    pixel_size_um: Optional[float] = None
    instances: InstanceConfig = field(default_factory=_instance_config)
    include_cut: bool = False  # grains cut by an edge in the size distributions

    def __post_init__(self) -> None:
        from ml.data import check_mask_kind

        if (self.masks is None) == (self.model is None):
            raise ValueError("give either --masks DIR (with optional --images) or --images DIR --model PATH")
        if self.model is not None and not self.images:
            raise ValueError("--model needs --images DIR to predict")
        check_mask_kind(self.mask_kind)


def git_sha() -> Optional[str]:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


def _mask_instances(files: SampleFiles, spec: MeasureSpec, schema: LabelSchema) -> Instances:
    from ml.instances import instances_from_class_map, instances_from_instance_map
    from ml.io import ImageReadError, read_mask

    mask = read_mask(files.mask)
    if spec.mask_kind == "instance":
        return instances_from_instance_map(mask, None, spec.instances.min_area)
    top = schema.num_outputs - 1
    if mask.min() < 0 or mask.max() > top:
        names = ", ".join(f"{i}={n}" for i, n in enumerate(schema.output_names))
        raise ImageReadError(files.mask, f"values outside 0..{top} of schema {schema.name!r} ({names})")
    return instances_from_class_map(mask, schema, spec.instances)


def _from_masks(spec: MeasureSpec, schema: LabelSchema) -> Iterator[GrainImage]:
    from rich.progress import track

    from foundation.instrument import resolve_pixel_size
    from ml.banner import detect_banner
    from ml.data import SampleFiles, find_samples
    from ml.io import list_images, read_channels
    from ml.morphometry import GrainImage

    if spec.images:
        files = find_samples(spec.images, spec.masks)
    else:
        files = [SampleFiles(p.relative_to(spec.masks).with_suffix("").as_posix(), (), p)
                 for p in list_images(spec.masks)]
    for f in track(files, description="measuring", console=console):
        image = read_channels(f.images) if f.images else None
        px = resolve_pixel_size(spec.pixel_size_um, f.images[0] if f.images else f.mask)
        banner = detect_banner(image) if image is not None else None
        yield GrainImage(f.id, _mask_instances(f, spec, schema), px, image, banner, schema.class_names)


def predicted_instances(net, artifact, image, cfg: InstanceConfig) -> tuple[Instances, object]:
    """Grains predicted on one (C, H, W) image with the model's own preprocessing, and the banner box."""
    from ml.evaluate import fitting_config
    from ml.instances import instances_from_probabilities
    from ml.io import ArraySource
    from ml.predict import PredictConfig, predict_image
    from ml.preprocess import fit

    state = fit(image, artifact.preprocess)
    window = replace(fitting_config(state.model_shape, PredictConfig()), probabilities=True)
    pred = predict_image(net, ArraySource(image), window, state=state)
    return instances_from_probabilities(pred.probabilities, artifact.schema, cfg), pred.banner


def _from_model(spec: MeasureSpec) -> Iterator[GrainImage]:
    from rich.progress import track

    from foundation.instrument import resolve_pixel_size
    from ml.checkpoint import load_model
    from ml.data import find_samples
    from ml.io import read_channels
    from ml.morphometry import GrainImage

    net, artifact = load_model(spec.model)
    for f in track(find_samples(spec.images), description="predicting and measuring", console=console):
        image = read_channels(f.images)
        inst, banner = predicted_instances(net, artifact, image, spec.instances)
        px = resolve_pixel_size(spec.pixel_size_um, f.images[0])
        yield GrainImage(f.id, inst, px, image, banner, artifact.schema.class_names)


def _image_row(item: GrainImage, table: pd.DataFrame, include_cut: bool) -> dict:
    from ml.distributions import summarise

    col = "ecd_um" if item.pixel_size.known else "ecd_px"
    sizes = summarise(table, col, include_cut)["all"] if not table.empty else {"n": 0}
    return {"image": item.name, "grains_found": item.instances.count + len(item.instances.dropped),
            "measured": len(table), "dropped": len(item.instances.dropped),
            "cut_by_edge": int(table["cut_by_edge"].sum()) if not table.empty else 0,
            **item.pixel_size.to_dict(), **{f"ecd_{k}": v for k, v in sizes.items()}}


def _write_tables(out: Path, grains: pd.DataFrame, dropped: list[dict], images: list[dict]) -> None:
    import pandas as pd

    grains.to_csv(out / "grains.csv", index=False)
    grains.to_parquet(out / "grains.parquet", index=False)
    dropped_table = pd.DataFrame(dropped, columns=["image", "grain_before_drop", "area_px", "reason"])
    dropped_table.to_csv(out / "dropped.csv", index=False)
    pd.DataFrame(images).to_csv(out / "images.csv", index=False)


def run_measure(spec: MeasureSpec, schema: LabelSchema, out: Path) -> dict:
    """Measure every image; write grains.csv and .parquet, dropped.csv, images.csv, outlines.geojson, plots/ and
    summary.json (with what produced them). Every grain found is measured or listed in dropped.csv."""
    import pandas as pd

    from ml.distributions import plot_distributions
    from ml.morphometry import dropped_rows, measure as measure_grains, outlines

    out.mkdir(parents=True, exist_ok=True)
    tables, dropped, images, features = [], [], [], []
    for item in (_from_model(spec) if spec.model else _from_masks(spec, schema)):
        table = measure_grains(item)
        tables.append(table)
        dropped += dropped_rows(item)
        images.append(_image_row(item, table, spec.include_cut))
        features += outlines(item)
    grains = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    _write_tables(out, grains, dropped, images)
    (out / "outlines.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    summary = _summary(spec, grains, dropped, images)
    if not grains.empty:
        plot_distributions(grains, out / "plots", summary["size_column"], summary["units"], spec.include_cut)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str, allow_nan=False) + "\n")
    return summary


def _clean(d: dict) -> dict:
    """NaN (an empty distribution) as null, at any depth, so summary.json is strict JSON."""
    nan_free = {k: None if isinstance(v, float) and v != v else v for k, v in d.items()}
    return {k: _clean(v) if isinstance(v, dict) else v for k, v in nan_free.items()}


def _summary(spec: MeasureSpec, grains: pd.DataFrame, dropped: list[dict], images: list[dict]) -> dict:
    from ml.config import to_dict
    from ml.distributions import summarise

    known = bool(images) and all(r["pixel_size_um"] is not None for r in images)
    column = "ecd_um" if known else "ecd_px"
    found = sum(r["grains_found"] for r in images)
    if found != len(grains) + len(dropped):  # count in = count out, or the run is wrong
        raise RuntimeError(f"{found} grains found but {len(grains)} measured + {len(dropped)} dropped")
    return _clean({
        "tool": "grainloop measure", "git_sha": git_sha(), "inputs": to_dict(spec), "images": len(images),
        "grains_found": found, "grains_measured": len(grains), "grains_dropped": len(dropped),
        "grains_cut_by_edge": int(grains["cut_by_edge"].sum()) if not grains.empty else 0,
        "units": "um" if known else "px", "size_column": column,
        "pixel_size_note": "from each image" if known else "pixel size unknown for some images: sizes in pixels",
        "pixel_sizes": sorted({f"{r['pixel_size_um']} ({r['pixel_size_source']})" for r in images}),
        "distribution": summarise(grains, column, spec.include_cut) if not grains.empty else {},
    })


MeasureImages = Annotated[Optional[list[Path]], typer.Option(
    "--images", help="image folder (repeat for channels): intensities, pixel size, banner; with --model: to predict")]
MeasureModel = Annotated[Optional[Path], typer.Option(help="model.pt: predict --images, then split into grains")]
PixelSizeOpt = Annotated[Optional[float], typer.Option(help="micrometres per pixel (overrides the files' metadata)")]
MinArea = Annotated[int, typer.Option(help="grains with fewer pixels are dropped (and listed in dropped.csv)")]
Split = Annotated[str, typer.Option(help="touching grains: auto, boundary, watershed or components")]
IncludeCut = Annotated[bool, typer.Option(help="grains cut by the border or banner count in the distributions")]


@app.command()
def measure(
    out: Annotated[Path, typer.Option(help="folder for grains.csv/.parquet, images.csv, summary.json, plots")],
    masks: Annotated[Optional[Path], typer.Option(help="folder of class or instance maps")] = None,
    mask_kind: MaskKind = "class", images: MeasureImages = None, model: MeasureModel = None,
    pixel_size: PixelSizeOpt = None, schema: SchemaOpt = None, min_area: MinArea = 10, split: Split = "auto",
    include_cut: IncludeCut = False,
) -> None:
    """Per-grain morphometry, size distributions (D10/D50/D90) and GeoJSON outlines of masks or predictions."""
    spec = MeasureSpec(masks, mask_kind, tuple(images or ()), model, pixel_size,
                       _instance_config(min_area=min_area, method=split), include_cut)
    s = run_measure(spec, load_schema(schema), out)
    d50 = s["distribution"].get("all", {}).get("d50")
    console.print(f"{s['grains_measured']} grains measured, {s['grains_dropped']} dropped (see dropped.csv), "
                  f"{s['grains_cut_by_edge']} cut by an edge; number D50 "
                  f"{'n/a' if d50 is None else f'{d50:.3g}'} {s['units']}; wrote {out}")


def _register_record(cfg: RegisterConfig, files: list[Path], images: list, stack, transforms) -> dict:
    """What `register` did: settings, the transform of each moving image, channel names, the valid box."""
    from ml.config import to_dict
    from ml.register import valid_box

    channels = [f"{p.name}[{c}]" for p, a in zip(files, images) for c in range(a.shape[0])]
    return {"tool": "grainloop register", "git_sha": git_sha(), "config": to_dict(cfg), "reference": str(files[0]),
            "moving": [{"file": str(p), **t.to_dict()} for p, t in zip(files[1:], transforms)],
            "channels": channels, "valid_box": valid_box(stack.shape[1:], transforms).to_dict()}


@app.command()
def register(
    reference: Annotated[Path, typer.Option(help="the image the others are aligned to")],
    moving: Annotated[list[Path], typer.Option("--moving", help="an image of the same field; repeat for more")],
    out: Annotated[Path, typer.Option(help="multi-channel TIFF to write (plus OUT.json with the shifts)")],
    rotation: Annotated[bool, typer.Option(help="also search a small rotation")] = False,
    max_angle: float = 3.0, upsample: Annotated[int, typer.Option(help="shift precision 1/upsample px")] = 100,
) -> None:
    """Align images of one field by sub-pixel phase correlation and stack them as input channels."""
    from ml.io import read_image
    from ml.register import RegisterConfig, register_stack, write_stack

    cfg = RegisterConfig(upsample=upsample, rotation=rotation, max_angle=max_angle)
    ref, movings = read_image(reference), [read_image(p) for p in moving]
    stack, transforms = register_stack(ref, movings, cfg)
    record = _register_record(cfg, [reference, *moving], [ref, *movings], stack, transforms)
    write_stack(out, stack, record)
    for p, t in zip(moving, transforms):
        console.print(f"{p.name}: dy {t.dy:+.2f} px, dx {t.dx:+.2f} px, rotation {t.angle_deg:+.3f} deg")
    console.print(f"wrote {stack.shape[0]} channels to {out} and the shifts to {out.with_suffix('.json')}")
