"""`grainloop init | add | config`: start a lab's own loop on its images, add images later, change a setting."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from grainloop.options import ConfigOpt, loop_file, loop_prefect

app = typer.Typer()
config_app = typer.Typer(no_args_is_help=True, help="Show or change the loop's settings (validated; no JSON by hand).")

BUNDLED = Path(__file__).resolve().parent.parent / "schemas"


def schema_file(name: str) -> Path:
    """A schema file, or the name of a bundled one (grains, phases, grains-boundary)."""
    path = Path(name)
    if path.is_file():
        return path
    bundled = BUNDLED / f"{name.removesuffix('.yaml')}.yaml"
    if bundled.is_file():
        return bundled
    choices = ", ".join(sorted(p.stem for p in BUNDLED.glob("*.yaml")))
    raise typer.BadParameter(f"no schema file {name}; give a YAML file or one of the bundled: {choices}")


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1) from None


@app.command()
def init(
    images: Annotated[list[Path], typer.Option("--images", help="folder of your SEM images (inside Label Studio's "
                                                                 "document root); repeat for further detector "
                                                                 "channels (same file names), the first is annotated")],
    schema: Annotated[str, typer.Option(help="label schema: a YAML file or a bundled name")] = "grains",
    out: Annotated[Path, typer.Option(help="the loop's folder: loop.json and the git + DVC workspace")] = Path("loop"),
    project: Annotated[str, typer.Option(help="Label Studio project title (created or reused)")] = "grainloop",
    labelstudio_url: Annotated[Optional[str], typer.Option(help="an existing Label Studio (token from "
                                                                "GRAINLOOP_LS_TOKEN); default: `labelstudio up`'s")] = None,
    document_root: Annotated[Optional[Path], typer.Option(help="the folder Label Studio serves local files from")] = None,
    tracking_uri: Annotated[Optional[str], typer.Option(help="an MLflow tracking server (no password in it); "
                                                             "default: SQLite in the workspace")] = None,
    dvc_remote: Annotated[Optional[str], typer.Option(help="DVC remote, e.g. s3://bucket/path (credentials from "
                                                           "AWS_* in the environment); default: a local folder")] = None,
    dvc_endpoint_url: Annotated[Optional[str], typer.Option(help="S3 endpoint, e.g. http://minio:9000")] = None,
    prefect_api_url: Annotated[Optional[str], typer.Option(help="a Prefect server; default: no-server mode")] = None,
    specimen_pattern: Annotated[Optional[str], typer.Option(help="regex on file names; group 1 is the specimen, "
                                                                 "whose images share a split, e.g. '^(S\\d+)_'")] = None,
    pixel_size_um: Annotated[Optional[float], typer.Option(help="micrometres per pixel for files whose TIFF "
                                                                "metadata has none (a confirmed scale bar wins, an "
                                                                "unconfirmed one does not: `grainloop scale`)")] = None,
    scale_bar_confidence: Annotated[Optional[float], typer.Option(
        help="a scale-bar reading this sure (0-1) is used without a person confirming it "
             "[default: ACCEPT_CONFIDENCE in dataset/scales.py]")] = None,
    strategy: Annotated[str, typer.Option(help="active-learning strategy ranking the tasks")] = "entropy",
    min_new_annotations: Annotated[int, typer.Option(help="new annotations before a cycle versions and trains")] = 1,
    tile_size: Annotated[int, typer.Option(help="images larger than this (pixels) become tile tasks")] = 2048,
    arch: Annotated[Optional[str], typer.Option(help="model architecture (default: the training default)")] = None,
    encoder: Annotated[Optional[str], typer.Option(help="encoder")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="training epochs per cycle")] = None,
    minutes: Annotated[Optional[float], typer.Option(help="training time budget per cycle")] = None,
    start_model: Annotated[Optional[str], typer.Option(help="a grainloop model file or MLflow model URI: the first "
                                                            "champion, chosen by you")] = None,
    labeled: Annotated[Optional[tuple[Path, Path]], typer.Option(help="IMAGES MASKS of an existing labelled set: "
                                                                      "dataset-v1, the first champion trained on it")] = None,
    mask_kind: Annotated[str, typer.Option(help="the labelled set's masks: class or instance maps")] = "class",
) -> None:
    """Start a loop on your own images: workspace (git + DVC), Label Studio project from the schema, the images
    as tasks, and loop.json. Safe to run again (updates the settings, imports only new images)."""
    from grainloop.options import load_schema
    from flows.prefect_env import prefect_env

    prefect_env(out, prefect_api_url)
    from dataset.samples import sample_config
    from dataset.versioning import RemoteConfig
    from flows.initialize import InitConfig, InitError, Services, init_loop
    from labeling.tiles import TilingConfig
    from ml.train_options import train_config

    try:
        remote = RemoteConfig(dvc_remote, endpoint_url=dvc_endpoint_url) if dvc_remote else RemoteConfig()
        services = Services(labelstudio_url=labelstudio_url, document_root=document_root, tracking_uri=tracking_uri,
                            dvc_remote=remote, prefect_api_url=prefect_api_url)
        cfg = InitConfig(images[0], load_schema(schema_file(schema)), out, project, services,
                         sample_config(specimen_pattern, pixel_size_um, scale_bar_confidence),
                         train_config(arch=arch, encoder=encoder, epochs=epochs, minutes=minutes), strategy=strategy,
                         min_new_annotations=min_new_annotations, tiling=TilingConfig(tile_size, min(256, tile_size // 8)),
                         start_model=start_model, labeled=labeled, mask_kind=mask_kind, channels=tuple(images[1:]))
        report = init_loop(cfg, log=typer.echo)
    except (InitError, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    champion = f"champion v{report.champion}" if report.champion else "no champion yet (annotate, then `grainloop cycle`)"
    pre = f", {report.preannotated.tasks} task(s) pre-annotated" if report.preannotated else ""
    typer.echo(f"ready: {champion}{pre}. Next: annotate in Label Studio, then `grainloop cycle --config {report.loop_file}`")


@app.command()
def add(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="image files or folders to add (linked into the loop's "
                                                               "image folder); none: rescan that folder")] = None,
    channel: Annotated[Optional[list[Path]], typer.Option(help="a folder with the added images' files of the next "
                                                               "detector channel, same relative paths (repeat, in "
                                                               "the loop's channel order)")] = None,
    config: ConfigOpt = None,
) -> None:
    """More images into the loop's project: new tasks only, pre-annotated by the champion."""
    config = loop_file(config)
    loop_prefect(config)
    from flows.add import add_images
    from flows.initialize import InitError

    try:
        report = add_images(config, paths or [], channel or [], log=typer.echo)
    except (InitError, FileNotFoundError) as exc:
        _fail(exc)
    imp, pre = report.imported, report.preannotated
    typer.echo(f"{imp.created} new task(s), {imp.existing} already there, {len(imp.refused) + len(imp.failed)} refused; "
               f"pre-annotated {pre.tasks} task(s){' (' + pre.skipped + ')' if pre.skipped else ''}")


@config_app.command("show")
def show(config: ConfigOpt = None) -> None:
    """Every setting of the loop, as `KEY = VALUE` lines."""
    from flows.loop_settings import settings_table

    for key, value in settings_table(loop_file(config)):
        typer.echo(f"{key} = {value}")


@config_app.command("get")
def get(key: str, config: ConfigOpt = None) -> None:
    """One setting's value."""
    from flows.loop_settings import SettingError, read_setting

    try:
        typer.echo(read_setting(loop_file(config), key))
    except SettingError as exc:
        _fail(exc)


@config_app.command("set")
def set_(key: str, value: str, config: ConfigOpt = None) -> None:
    """Change one setting (e.g. `strategy margin`, `train.epochs 20`, `rule.margin 0.02`); checked before saving."""
    from flows.loop_settings import SettingError, change_setting

    try:
        change_setting(loop_file(config), key, value)
    except SettingError as exc:
        _fail(exc)
    typer.echo(f"{key} = {value}")
