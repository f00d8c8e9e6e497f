"""Helpers for the labeling integration tests (fixtures live in conftest.py)."""
from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from foundation.schema import LabelSchema, binary_schema
from labeling.api import Connection
from labeling.importer import ImportConfig, import_folder
from labeling.projects import ProjectRef, ProjectSpec, ensure_project
from labeling.tiles import TilingConfig


def new_project(conn: Connection, schema: LabelSchema | None = None) -> ProjectRef:
    return ensure_project(conn.sdk, ProjectSpec(f"test {uuid.uuid4().hex[:8]}", schema or binary_schema()))


def write_images(folder: Path, n: int, size: tuple[int, int] = (48, 64), seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"img{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def imported_project(conn: Connection, docroot: Path, n: int, schema: LabelSchema | None = None,
                     size: tuple[int, int] = (48, 64)) -> tuple[ProjectRef, list[dict], ImportConfig]:
    """A fresh project with n small images imported; its tasks in id order."""
    project = new_project(conn, schema)
    root = docroot / f"images-{project.id}"
    write_images(root, n, size, seed=project.id)
    config = ImportConfig(root=root, document_root=docroot, tiling=TilingConfig(256, 32))
    import_folder(conn, project, config)
    tasks = sorted(conn.request("GET", "/api/tasks", params={"project": project.id, "page_size": 1000})["tasks"],
                   key=lambda t: t["id"])
    return project, tasks, config


def task_shape(task: dict) -> tuple[int, int]:
    tile = task["data"].get("tile") or task["data"]
    return int(tile["height"]), int(tile["width"])


def annotate(conn: Connection, task_id: int, result: list, **kwargs) -> int:
    return int(conn.sdk.annotations.create(task_id, result=result, **kwargs).id)


def server_counts(conn: Connection, project_id: int) -> tuple[int, int]:
    """(tasks, predictions) as the server counts them."""
    tasks = conn.request("GET", "/api/tasks", params={"project": project_id, "page_size": 1})["total"]
    return tasks, len(conn.sdk.predictions.list(project=project_id))
