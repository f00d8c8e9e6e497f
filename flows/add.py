"""`grainloop add`: more images into a loop's project later, linked into its image folder (and their further
detector channels into the channel folders); new tasks only, pre-annotated by the champion."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from flows.initialize import InitError, import_images
from flows.loop_config import LoopConfig, load_loop_config
from flows.preannotate import PreannotateReport, preannotate
from flows.scale import scan_new_images
from labeling.importer import ImportReport
from labeling.images import EXTENSIONS


def _copy_in(source: Path, images: Path) -> Path:
    """A file or folder from outside the loop's image folder, linked (or copied) into it under its own name."""
    dest = images / source.name
    if source.is_dir():
        shutil.copytree(source, dest, copy_function=_link_or_copy, dirs_exist_ok=True)
    elif source.suffix.lower() in EXTENSIONS:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(source, dest)
    else:
        raise InitError(f"{source} is neither a folder nor an image ({', '.join(sorted(EXTENSIONS))})")
    return dest


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    if Path(dst).exists():
        return
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


@dataclass(frozen=True)
class AddReport:
    imported: ImportReport
    preannotated: PreannotateReport


def _image_files(source: Path) -> list[Path]:
    """The images a source brings, relative to the folder it is linked into (a file: its name)."""
    if source.is_dir():
        return sorted(p.relative_to(source) for p in source.rglob("*") if p.suffix.lower() in EXTENSIONS)
    return [Path(source.name)]


def _channel_pairs(source: Path, channel_sources: Sequence[Path], channels: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(file in a --channel folder, where it goes in the loop's channel folder) for every image of the source;
    InitError naming the first image a channel lacks."""
    prefix = Path(source.name) if source.is_dir() else Path()
    pairs = []
    for rel in _image_files(source):
        for given, dest in zip(channel_sources, channels):
            if not (given / rel).is_file():
                raise InitError(f"{given / rel} is missing: each --channel folder needs every added image under the "
                                f"same relative path ({rel})")
            pairs.append((given / rel, dest / prefix / rel))
    return pairs


def link_in(loop: LoopConfig, sources: Sequence[Path], channel_sources: Sequence[Path] = ()) -> None:
    """Sources outside the loop's image folder are linked (or copied) into it under their own name; with
    ``channel_sources`` (one folder per further detector channel, in the loop's order) each image's file of
    that channel, under the same relative path there, goes to the same place in the loop's channel folder."""
    images, channels = loop.labeling.images, loop.labeling.channels
    if channel_sources and len(channel_sources) != len(channels):
        raise InitError(f"the loop has {len(channels)} further channel folder(s) "
                        f"({', '.join(map(str, channels)) or 'none'}); got {len(channel_sources)} --channel")
    for source in sources:
        if not source.exists():
            raise InitError(f"{source} does not exist")
        source = source.resolve()
        if source.is_relative_to(images):
            continue
        pairs = _channel_pairs(source, [c.resolve() for c in channel_sources], channels)
        _copy_in(source, images)
        for given, dest in pairs:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(given, dest)


def add_images(config: Path, sources: Sequence[Path] = (), channel_sources: Sequence[Path] = (),
               log: Callable[[str], None] = print) -> AddReport:
    """New images into the loop's project: sources outside its image folder are linked in first (with their
    further channels, see ``link_in``); tasks that exist stay as they are; the scale bars of new images without a
    metadata pixel size are read (flows/scale.py); the champion pre-annotates the new ones."""
    loop = load_loop_config(config)
    link_in(loop, sources, channel_sources)
    _, imported = import_images(loop)
    scan_new_images(loop, log)
    return AddReport(imported, preannotate(loop))
