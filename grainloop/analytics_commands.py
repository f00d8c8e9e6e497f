"""`grainloop measure | register`: grain tables, size distributions and outlines; co-registered channel stacks."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from grainloop.ml_commands import MaskKind, SchemaOpt
from grainloop.options import load_schema

if TYPE_CHECKING:  # the model code loads when a command runs, not when the CLI starts
    from ml.register import RegisterConfig

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True)

MeasureImages = Annotated[Optional[list[Path]], typer.Option(
    "--images", help="image folder (repeat for channels): intensities, pixel size, banner; with --model: to predict")]
MeasureModel = Annotated[Optional[Path], typer.Option(help="model.pt: predict --images, then split into grains")]
PixelSizeOpt = Annotated[Optional[float], typer.Option(help="micrometres per pixel (overrides the files' metadata)")]
MinArea = Annotated[int, typer.Option(help="grains with fewer pixels are dropped (and listed in dropped.csv)")]
Split = Annotated[str, typer.Option(help="touching grains: auto (with --model: the decoding tuned on its "
                                         "validation images, if any), boundary, core_watershed (a boundary "
                                         "model's cores), watershed or components")]
SplitH = Annotated[float, typer.Option(help="(core_)watershed: a distance maximum must stand this many px above its "
                                            "saddle to seed a grain (higher merges more)")]
IncludeCut = Annotated[bool, typer.Option(help="grains cut by the border or banner count in the distributions "
                                                "(needs --no-edge-correction)")]
EdgeCorrection = Annotated[bool, typer.Option(help="Miles-Lantuejoul weights for whole grains in the ISO 9276 "
                                                    "statistics (removes the bias against large grains)")]
Bootstrap = Annotated[int, typer.Option(help="bootstrap replicates for the confidence intervals (0: none)")]
BootstrapSeed = Annotated[int, typer.Option(help="seed of the bootstrap")]
Release = Annotated[Optional[Path], typer.Option(help="a release folder (grainloop dataset release): its labelled "
                                                      "images, pixel sizes from its manifest")]
DatasetTag = Annotated[Optional[str], typer.Option("--dataset", help="a dataset version, e.g. dataset-v3 "
                                                                    "(checked out from --repo's DVC store)")]
DatasetSplit = Annotated[Optional[str], typer.Option(help="only this split of --release or --dataset: train, val, "
                                                          "test")]
RepoOpt = Annotated[Path, typer.Option(help="with --dataset: the git repository that holds data.dvc")]
DataOpt = Annotated[str, typer.Option(help="with --dataset: the dataset folder inside the repository")]
MinFill = Annotated[float, typer.Option(help="ASTM E112 only where grains and boundaries cover this share of the "
                                             "frame")]
TypesOpt = Annotated[Optional[Path], typer.Option(
    "--types", exists=True, dir_okay=False,
    help="grain-type rules (YAML: channel thresholds, first match wins): a `type` column and types.csv")]


@app.command()
def measure(
    out: Annotated[Path, typer.Option(help="folder for grains.csv/.parquet, images.csv, summary.json, plots")],
    masks: Annotated[Optional[Path], typer.Option(help="folder of class or instance maps")] = None,
    mask_kind: MaskKind = "class", images: MeasureImages = None, model: MeasureModel = None,
    pixel_size: PixelSizeOpt = None, schema: SchemaOpt = None, min_area: MinArea = 10, split: Split = "auto",
    split_h: SplitH = 1.0, include_cut: IncludeCut = False, edge_correction: EdgeCorrection = True,
    bootstrap: Bootstrap = 1000, bootstrap_seed: BootstrapSeed = 0, e112_min_fill: MinFill = 0.9,
    release: Release = None, dataset: DatasetTag = None, dataset_split: DatasetSplit = None, repo: RepoOpt = Path("."),
    data: DataOpt = "data", types: TypesOpt = None,
) -> None:
    """Per-grain morphometry, size distributions to ISO 9276 (number, area, volume; D10/D50/D90, span, moment
    means) with bootstrap intervals, ASTM E112 grain size numbers and GeoJSON outlines of masks, of a model's
    predictions, of a release or of a dataset version."""
    from ml.astm_e112 import E112Config
    from ml.bootstrap import BootstrapConfig
    from ml.grain_types import load_types
    from ml.instances import InstanceConfig
    from ml.measure import MeasureSpec

    try:
        spec = partial(MeasureSpec, masks, mask_kind, tuple(images or ()), model, pixel_size,
                       InstanceConfig(min_area=min_area, method=split, h=split_h), include_cut, edge_correction,
                       BootstrapConfig(bootstrap, bootstrap_seed), E112Config(min_fill=e112_min_fill),
                       types=load_types(types) if types else None)
        if release is not None and dataset is not None:
            raise ValueError("give --release DIR or --dataset TAG, not both")
        if release is not None:
            s = _measure_folder(spec, release, f"release {release}", dataset_split, schema, out)
        elif dataset is not None:
            s = _measure_version(spec, dataset, repo, data, dataset_split, schema, out)
        else:
            s = _run(spec(), load_schema(schema), out)
    except ValueError as e:  # bad options, an unknown version, split or folder
        raise typer.BadParameter(str(e)) from e
    console.print(f"{s['grains_measured']} grains measured, {s['grains_dropped']} dropped (see dropped.csv), "
                  f"{s['grains_cut_by_edge']} cut by an edge; {_d50_line(s)}; {_e112_line(s['astm_e112'])}; "
                  f"wrote {out}")
    warning = (s.get("iso9276", {}).get("edge_weights") or {}).get("warning")
    if warning:
        console.print(f"[yellow]edge correction: {warning}[/yellow]")
    if "grain_types" in s:
        console.print("grain types (count, share of area): " + ", ".join(
            f"{t['type']} {t['grains']} ({100 * t['area_fraction']:.1f}%)" for t in s["grain_types"]["types"]))


def _run(spec, schema, out: Path) -> dict:
    from ml.measure import run_measure

    return run_measure(spec, schema, out, progress=True)


def _measure_folder(spec: partial, folder: Path, source: str, split: Optional[str], schema: Optional[Path],
                    out: Path) -> dict:
    from dataset.measure_folder import folder_samples, folder_schema

    samples = folder_samples(folder, split)
    full = spec(samples=samples, source=source + (f", split {split}" if split else ""))
    return _run(full, load_schema(schema) if schema else folder_schema(folder), out)


def _measure_version(spec: partial, tag: str, repo: Path, data: str, split: Optional[str], schema: Optional[Path],
                     out: Path) -> dict:
    import tempfile

    from dataset.commit import checkout_version
    from dataset.versioning import VersionConfig, VersioningError

    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = checkout_version(VersionConfig(repo.resolve(), data), tag, Path(tmp) / "data")
        except VersioningError as e:
            raise ValueError(str(e)) from e
        return _measure_folder(spec, folder, f"dataset version {tag} of {repo.resolve()}", split, schema, out)


def _d50_line(s: dict) -> str:
    stats = s.get("iso9276", {}).get("classes", {}).get("all")
    if not stats:
        return "no grains"
    d50 = stats["weightings"]["number"]["d50"]
    ci = stats.get("intervals", {}).get("images", {}).get("number", {}).get("d50")
    interval = f" [{ci[0]:.3g}, {ci[1]:.3g}] over images" if ci and ci[0] is not None else ""
    return f"number D50 {'n/a' if d50 is None else f'{d50:.3g}'}{interval} {s['units']} ({stats['n']} grains)"


def _e112_line(e112: dict) -> str:
    if e112.get("reason"):
        return f"ASTM E112: {e112['reason']}"
    return f"ASTM E112 G {e112['g_planimetric']:.2f} (planimetric), {e112['g_intercept']:.2f} (intercept)"


def _register_record(cfg: RegisterConfig, files: list[Path], images: list, stack, transforms) -> dict:
    """What `register` did: settings, the transform of each moving image, channel names, the valid box."""
    from ml.config import to_dict
    from ml.measure import git_sha
    from ml.register import valid_box

    channels = [f"{p.name}[{c}]" for p, a in zip(files, images) for c in range(a.shape[0])]
    return {"tool": "grainloop register", "git_sha": git_sha(), "config": to_dict(cfg), "reference": str(files[0]),
            "moving": [{"file": str(p), "shape": list(a.shape[-2:]), **t.to_dict()}
                       for p, a, t in zip(files[1:], images[1:], transforms)],
            "channels": channels, "valid_box": valid_box(stack.shape[1:], transforms).to_dict()}


@app.command()
def register(
    reference: Annotated[Path, typer.Option(help="the image the others are aligned to")],
    moving: Annotated[list[Path], typer.Option("--moving", help="an image of the same field; repeat for more")],
    out: Annotated[Path, typer.Option(help="multi-channel TIFF to write (plus OUT.json with the shifts)")],
    rotation: Annotated[bool, typer.Option(help="also search a small rotation")] = False,
    max_angle: float = 3.0, upsample: Annotated[int, typer.Option(help="shift precision 1/upsample px")] = 100,
    method: Annotated[str, typer.Option(help="phase: phase correlation (same modality: shift, --rotation); "
                                             "multimodal: element maps to an electron image (shift, rotation and "
                                             "scale from shared edges)")] = "phase",
    max_scale: Annotated[float, typer.Option(help="multimodal: scales within 1 -+ this")] = 0.08,
    joint: Annotated[bool, typer.Option(help="the moving images are maps of one acquisition (element maps): one "
                                             "transform from all of them together")] = False,
) -> None:
    """Align images of one field (phase correlation, or multi-modal for element maps) and stack them as input
    channels."""
    from ml.io import read_image
    from ml.register import RegisterConfig, register_stack, write_stack

    try:
        cfg = RegisterConfig(upsample=upsample, rotation=rotation, max_angle=max_angle, method=method,
                             max_scale=max_scale, joint=joint)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    ref, movings = read_image(reference), [read_image(p) for p in moving]
    stack, transforms = register_stack(ref, movings, cfg)
    record = _register_record(cfg, [reference, *moving], [ref, *movings], stack, transforms)
    write_stack(out, stack, record)
    for p, t in zip(moving, transforms):
        console.print(f"{p.name}: dy {t.dy:+.2f} px, dx {t.dx:+.2f} px, rotation {t.angle_deg:+.3f} deg, "
                      f"scale {t.scale:.4f}")
    console.print(f"wrote {stack.shape[0]} channels to {out} and the shifts to {out.with_suffix('.json')}")
