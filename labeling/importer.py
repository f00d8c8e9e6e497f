"""Import a folder of images as tasks, through a local-files storage, without copying the originals.

Each task carries the image's sha256, its path under the import root, its size, the instrument metadata found
and, for images larger than the tile size, its tile box. Re-import is idempotent: a task's key is the sha256
plus the tile, and a key already on the server never makes a second task. Paths that leave the import root
(``..``, symbolic links pointing out) are refused and reported, and so are files that do not load; the rest
still imports.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from foundation.semimage import image_size, read_plane
from labeling.api import Connection, iter_tasks
from labeling.images import EXTENSIONS, instrument_metadata, is_viewable, save_png, sha256_file, to_8bit
from labeling.projects import ProjectRef
from labeling.tiles import TileBox, TilingConfig, tile_boxes

LOCAL_FILES = "/data/local-files/?d="


@dataclass(frozen=True)
class ImportConfig:
    root: Path
    document_root: Path
    viewable_dir: Path | None = None
    tiling: TilingConfig = field(default_factory=TilingConfig)
    batch_size: int = 500

    @property
    def viewables(self) -> Path:
        return (self.viewable_dir or self.document_root / ".grainloop-viewable").resolve()


@dataclass
class ImportReport:
    created: int = 0
    existing: int = 0
    task_ids: list[int] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


class ImportConfigError(ValueError):
    """The import folders are not where Label Studio can serve them."""


def check_folders(config: ImportConfig) -> tuple[Path, Path]:
    root, docroot = config.root.resolve(), config.document_root.resolve()
    if not root.is_dir():
        raise ImportConfigError(f"import root {config.root} is not a folder")
    for name, folder in (("import root", root), ("viewable folder", config.viewables)):
        if not folder.is_relative_to(docroot):
            raise ImportConfigError(f"{name} {folder} is outside Label Studio's document root {docroot}")
    return root, docroot


def inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root)


def scan(root: Path, skip: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files under root (recursive, sorted); links that leave root are refused, not followed."""
    found, refused = [], []
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() != skip)
        for name in [*dirs, *files]:
            path = here / name
            if path.is_symlink() and not inside(root, path):
                refused.append((str(path.relative_to(root)), "symbolic link leaves the import root"))
            elif name in files and path.suffix.lower() in EXTENSIONS and not path.is_symlink():
                found.append(path)
            elif name in files and path.suffix.lower() in EXTENSIONS:
                found.append(path.resolve())
    return sorted(set(found)), refused


def select(root: Path, paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Explicit paths relative to root; any that leaves it ('..', absolute elsewhere, links out) is refused."""
    found, refused = [], []
    for text in paths:
        path = root / text
        if ".." in Path(text).parts or not inside(root, path):
            refused.append((text, "path leaves the import root"))
        else:
            found.append(path.resolve())
    return found, refused


def ensure_storages(conn: Connection, project_id: int, folders: list[Path]) -> None:
    """A local-files storage per folder (Label Studio serves /data/local-files only below one)."""
    have = {Path(s.path).resolve() for s in conn.sdk.import_storage.local.list(project=project_id) if s.path}
    for folder in folders:
        if folder not in have:
            folder.mkdir(parents=True, exist_ok=True)
            conn.sdk.import_storage.local.create(project=project_id, path=str(folder), title=f"grainloop {folder.name}",
                                                 use_blob_urls=False, recursive_scan=True)


def existing_keys(conn: Connection, project_id: int) -> set[str]:
    return {t["data"].get("key") for t in iter_tasks(conn, project_id, page_size=1000)}


def url_for(path: Path, docroot: Path) -> str:
    return LOCAL_FILES + quote(str(path.relative_to(docroot)), safe="/")


def task_key(sha: str, box: TileBox, tiled: bool) -> str:
    return f"{sha}:{box.key}" if tiled else f"{sha}:full"


def tasks_for_image(path: Path, root: Path, docroot: Path, config: ImportConfig, skip_keys: set[str]) -> list[dict]:
    """New task dicts for one image (its tiles, when it is larger than the tile size)."""
    sha = sha256_file(path)
    height, width = image_size(path)
    boxes = tile_boxes(height, width, config.tiling)
    tiled = len(boxes) > 1
    todo = [b for b in boxes if task_key(sha, b, tiled) not in skip_keys]
    if not todo:
        return []
    pixels = read_plane(path)
    base = {"original": url_for(path, docroot), "source": str(path.relative_to(root)), "sha256": sha,
            "width": width, "height": height, "dtype": str(pixels.dtype),
            "tiling": {"max_side": config.tiling.max_side, "overlap": config.tiling.overlap},
            "instrument": instrument_metadata(path)}
    return [{"data": {**base, "key": task_key(sha, b, tiled), "tile": b.to_dict() if tiled else None,
                      "image": _viewable(path, pixels, b, tiled, sha, config, docroot)}} for b in todo]


def _viewable(path: Path, pixels: np.ndarray, box: TileBox, tiled: bool, sha: str, config: ImportConfig,
              docroot: Path) -> str:
    if not tiled and is_viewable(path, pixels):
        return url_for(path, docroot)
    target = config.viewables / sha[:2] / (f"{sha}_{box.key}.png" if tiled else f"{sha}.png")
    if not target.exists():
        save_png(to_8bit(box.crop(pixels)), target)
    return url_for(target, docroot)


def import_folder(conn: Connection, project: ProjectRef, config: ImportConfig,
                  paths: list[str] | None = None, skip_existing: bool = True) -> ImportReport:
    """Import the images under config.root (or only ``paths``, relative to it) as tasks of the project.
    ``skip_existing`` False imports an image even if its content is a task already (a campaign's gold copy)."""
    root, docroot = check_folders(config)
    files, refused = select(root, paths) if paths is not None else scan(root, config.viewables)
    report = ImportReport(refused=refused)
    ensure_storages(conn, project.id, [root, config.viewables])
    seen = existing_keys(conn, project.id) if skip_existing else set()
    batch: list[dict] = []
    for path in files:
        batch.extend(_new_tasks(path, root, docroot, config, seen, report))
        if len(batch) >= config.batch_size:
            _send(conn, project.id, batch, report)
    _send(conn, project.id, batch, report)
    return report


def _new_tasks(path, root, docroot, config, seen: set[str], report: ImportReport) -> list[dict]:
    try:
        tasks = tasks_for_image(path, root, docroot, config, seen)
    except OSError as e:  # foundation's ImageReadError is one, and so is a file gone while hashing
        report.failed.append((str(path.relative_to(root)), str(e)))
        return []
    report.existing += len(tile_boxes(*image_size(path), config.tiling)) - len(tasks)
    seen.update(t["data"]["key"] for t in tasks)
    return tasks


def _send(conn: Connection, project_id: int, batch: list[dict], report: ImportReport) -> None:
    if not batch:
        return
    answer = conn.sdk.projects.import_tasks(project_id, request=batch, return_task_ids=True)
    report.created += answer.task_count or 0
    report.task_ids.extend(answer.task_ids or [])
    batch.clear()
