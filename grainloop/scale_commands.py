"""`grainloop scale`: pixel sizes read from the images' burned-in scale bars (flows/scale.py).

``read`` lists what any folder's images give (nothing recorded); ``detect`` records the readings of the loop's
images without a metadata pixel size; ``list`` shows the record; ``confirm`` and ``reject`` record a person's
decision. A reading is used for the manifest's pixel size once confirmed, or unconfirmed when its confidence
reaches the loop's ``samples.scale_bar_confidence``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from grainloop.options import ConfigOpt, loop_file

app = typer.Typer(no_args_is_help=True, help="Pixel sizes read from the images' scale bars (OCR with Tesseract).")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON (for scripts)")]


def _loop(config: Optional[Path]):
    from flows.loop_config import load_loop_config

    try:
        return load_loop_config(loop_file(config))
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _ocr(call):
    """Run ``call``; a missing Tesseract is an error with its install hint."""
    from foundation.scalelabel import OcrUnavailable

    try:
        return call()
    except OcrUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _um(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.5g}"


@app.command("read")
def read(
    paths: Annotated[list[Path], typer.Argument(help="image files or folders (searched recursively)")],
    as_json: JsonOpt = False,
) -> None:
    """Read the scale bar of every image and list the pixel size it gives beside the metadata's (nothing is
    recorded; `grainloop scale detect` records a loop's)."""
    from flows.scale import read_images

    found = _ocr(lambda: read_images(paths))
    if as_json:
        typer.echo(json.dumps([{"path": str(s.path), "metadata_pixel_size_um": s.metadata_um, "error": s.error,
                                "scale_bar": s.reading.to_dict() if s.reading else None} for s in found], indent=1))
        return
    root = Path(os.path.commonpath([s.path.resolve().parent for s in found])) if found else Path()
    table = Table("metadata um/px", "scale bar", "um/px", "bar px", "confidence", caption=f"images in {root}",
                  caption_justify="left")
    table.columns.insert(0, Column("image", overflow="fold"))
    for s in found:
        r = s.reading
        table.add_row(Text(str(s.path.resolve().relative_to(root))), _um(s.metadata_um), Text(s.error or (r.label if r else "none")),
                      _um(r.pixel_size_um if r else None), f"{r.bar_length_px:.1f}" if r else "-",
                      f"{r.confidence:.2f}" if r else "-")
    Console().print(table)
    typer.echo(f"{sum(s.reading is not None for s in found)} of {len(found)} image(s) gave a scale bar")


@app.command("detect")
def detect(
    config: ConfigOpt = None,
    redo: Annotated[bool, typer.Option(help="read again the images already in the record (keeps the decisions "
                                            "on readings that come out the same)")] = False,
) -> None:
    """Read the scale bars of the loop's images that have no pixel size in their metadata and record them."""
    from flows.scale import detect_scales

    loop = _loop(config)
    report = _ocr(lambda: detect_scales(loop, redo=redo))
    _show(report.read, loop.samples.scale_bar_confidence)
    typer.echo(f"{len(report.read)} read, {report.kept} already recorded, {report.with_metadata} with a metadata "
               f"pixel size, {len(report.unreadable)} unreadable")


@app.command("list")
def list_(config: ConfigOpt = None, as_json: JsonOpt = False,
          awaiting: Annotated[bool, typer.Option(help="only the readings awaiting confirmation")] = False) -> None:
    """The loop's scale-bar readings and their state: used, awaiting confirmation, confirmed, rejected."""
    from dataset.scales import AWAITING
    from flows.scale import scale_record

    loop = _loop(config)
    threshold = loop.samples.scale_bar_confidence
    entries = [e for _, e in sorted(scale_record(loop).entries.items())
               if not awaiting or e.state(threshold) == AWAITING]
    if as_json:
        typer.echo(json.dumps([{"image": e.image, "state": e.state(threshold), "decision": e.decision,
                                "reading": e.reading.to_dict() if e.reading else None} for e in entries], indent=1))
        return
    _show(entries, threshold)


def _show(entries, threshold: float) -> None:
    table = Table("state", "label", "um/px", "bar px", "confidence",
                  caption=f"used unconfirmed from confidence {threshold}", caption_justify="left")
    table.columns.insert(0, Column("image", overflow="fold"))
    for e in entries:
        r = e.reading
        table.add_row(Text(e.image), e.state(threshold), Text(r.label) if r else "-",
                      _um(r.pixel_size_um if r else None), f"{r.bar_length_px:.1f}" if r else "-",
                      f"{r.confidence:.2f}" if r else "-")
    Console().print(table)


def _decide(decision: str, images: Optional[list[str]], config: Optional[Path], all_awaiting: bool) -> None:
    from flows.scale import decide

    if not images and not all_awaiting:
        typer.echo("error: name the images (paths inside the loop's image folder) or give --all", err=True)
        raise typer.Exit(2)
    try:
        decided = decide(_loop(config), images or [], decision, all_awaiting)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None
    for e in decided:
        typer.echo(f"{decision}: {e.image} ({e.reading.label}, {_um(e.reading.pixel_size_um)} um/px)")
    typer.echo(f"{len(decided)} reading(s) {decision}; the next sync records them in the manifest")


ImagesArg = Annotated[Optional[list[str]], typer.Argument(help="images, as paths inside the loop's image folder")]
AllOpt = Annotated[bool, typer.Option("--all", help="every reading awaiting confirmation")]


@app.command("confirm")
def confirm(images: ImagesArg = None, all_awaiting: AllOpt = False, config: ConfigOpt = None) -> None:
    """Confirm scale-bar readings: their pixel size is used whatever their confidence."""
    _decide("confirmed", images, config, all_awaiting)


@app.command("reject")
def reject(images: ImagesArg = None, all_awaiting: AllOpt = False, config: ConfigOpt = None) -> None:
    """Reject scale-bar readings: their pixel size is never used (the configured one, if any, is)."""
    _decide("rejected", images, config, all_awaiting)
