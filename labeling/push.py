"""Masks (from any source) become Label Studio pre-annotations, versioned and scored.

Each prediction carries the model_version and a score: Label Studio's meaning, the champion's confidence, made
from the active-learning priority (higher: label first) by labeling/priority.py, so the project's "Uncertainty
sampling" label stream serves the most informative tasks first.
A mask becomes one brush region per class, or one region per grain when it holds more grains than a
threshold: the model's own grains when it sends an instance map, else the class map's connected components;
each grain is a polygon, or a brush of its own when its polygon would miss it by more than the stated
tolerance. Upload is one bulk request per batch, sent while the next batch is encoded. Pushing the same
model_version to the same tasks again replaces those predictions instead of adding copies. The project's
model_version is set, so annotators see them (and the stream orders by them), and a Data Manager tab lists the tasks
by score, lowest (most informative) first.
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from labeling.api import Connection, filter_item, filters, iter_tasks, task_page
from labeling.priority import to_score
from labeling.projects import ProjectRef
from labeling.regions import POLYGON_MIN_IOU, mask_to_results
from labeling.tiles import TileBox

SCORE_VIEW = "grainloop: by score"
LISTED_LIMIT = 500  # Label Studio cuts the Data Manager's text columns at this many characters


@dataclass(frozen=True)
class PushConfig:
    model_version: str
    polygon_above: int = 50
    polygon_min_iou: float = POLYGON_MIN_IOU  # the tolerance: a polygon's IoU with its grain, else a brush
    set_project_version: bool = True
    batch_size: int = 100

    def __post_init__(self) -> None:
        if not self.model_version.strip():
            raise ValueError("every prediction needs a model_version")


@dataclass(frozen=True)
class MaskPrediction:
    task_id: int
    mask: np.ndarray
    score: float  # the active-learning priority (higher: label first); pushed as to_score(score)
    instances: np.ndarray | None = None  # the model's grains (ids 1..N), when it separates touching ones


@dataclass
class PushReport:
    created: int = 0
    replaced: int = 0
    task_ids: list[int] = field(default_factory=list)


def payload(items: list[MaskPrediction], project: ProjectRef, config: PushConfig) -> list[dict]:
    return [{"task": int(i.task_id), "model_version": config.model_version, "score": to_score(i.score),
             "result": mask_to_results(i.mask, project.schema, config.polygon_above, i.instances,
                                       config.polygon_min_iou)} for i in items]


def batches(items: list[MaskPrediction], project: ProjectRef, config: PushConfig) -> Iterator[list[dict]]:
    for start in range(0, len(items), config.batch_size):
        yield payload(items[start:start + config.batch_size], project, config)


def upload(conn: Connection, project_id: int, bodies: Iterator[list[dict]]) -> int:
    """Bulk-import each batch while the next one is being encoded (the server works as we encode)."""
    created, pending = 0, None
    with ThreadPoolExecutor(max_workers=1) as pool:
        for body in bodies:
            created += pending.result() if pending else 0
            pending = pool.submit(_post, conn, project_id, body)
        created += pending.result() if pending else 0
    return created


def _post(conn: Connection, project_id: int, body: list[dict]) -> int:
    answer = conn.request("POST", f"/api/projects/{project_id}/import/predictions", json=body)
    return int((answer or {}).get("created", 0))


def listed_versions(task: dict) -> set[str] | None:
    """The model_versions of a task's predictions from the Data Manager's column (comma-joined, quotes dropped);
    None when it is missing, empty or cut at the server's 500-character limit (its last name may be a prefix)."""
    column = task.get("predictions_model_versions")
    if not isinstance(column, str) or len(column) >= LISTED_LIMIT:
        return None
    return {v.strip() for v in column.split(",") if v.strip()} or None


def holds_version(task: dict, model_version: str) -> bool | None:
    """Whether the task holds a prediction of exactly this model_version (``@v1`` is not ``@v10``); None: the
    column cannot tell."""
    versions = listed_versions(task)
    return None if versions is None else model_version in versions


def tasks_with_version(conn: Connection, project_id: int, model_version: str) -> set[int]:
    """Ids of tasks holding predictions of exactly this model_version. The server's filter matches substrings
    (``@v1`` finds ``@v10``), so it only narrows the search; each candidate is then checked by exact name."""
    query = {"filters": filters(filter_item("predictions_model_versions", "contains", "List", [model_version]))}
    if task_page(conn, project_id, query, 1, all_fields=False)["total"] == 0:
        return set()
    found = set()
    for t in iter_tasks(conn, project_id, query, page_size=1000):
        exact = holds_version(t, model_version)
        if exact is None:  # the column was cut: ask for the task's predictions
            exact = any(p.model_version == model_version for p in conn.sdk.predictions.list(task=t["id"]))
        if exact:
            found.add(t["id"])
    return found


def old_prediction_ids(conn: Connection, task_ids: set[int], model_version: str) -> list[int]:
    return [p.id for t in sorted(task_ids) for p in conn.sdk.predictions.list(task=t)
            if p.model_version == model_version]


def delete_version(conn: Connection, project_id: int, model_version: str) -> int:
    """Delete every prediction of this exact model_version in the project (one request)."""
    answer = conn.request("DELETE", f"/api/projects/{project_id}/model-versions/",
                          json={"model_version": model_version})
    return int(answer.get("deleted_predictions", 0) if isinstance(answer, dict) else answer or 0)


def push_predictions(conn: Connection, project: ProjectRef, config: PushConfig,
                     items: list[MaskPrediction]) -> PushReport:
    """Upload the masks as predictions of config.model_version, replacing that version's earlier ones."""
    targets = {int(i.task_id) for i in items}
    holding = tasks_with_version(conn, project.id, config.model_version)
    report = PushReport(task_ids=sorted(targets))
    stale: list[int] = []
    if holding and holding <= targets:
        report.replaced = delete_version(conn, project.id, config.model_version)
    elif holding:
        stale = old_prediction_ids(conn, holding & targets, config.model_version)
    report.created = upload(conn, project.id, batches(items, project, config))
    for pid in stale:  # after the upload: a crash in between leaves copies that the next push removes
        conn.sdk.predictions.delete(pid)
    report.replaced += len(stale)
    if config.set_project_version:
        conn.sdk.projects.update(project.id, model_version=config.model_version)
    return report


def tasks_by_source(conn: Connection, project_id: int) -> dict[str, list[dict]]:
    """The project's tasks grouped by source image path (several per image when it was tiled)."""
    index: dict[str, list[dict]] = {}
    for task in iter_tasks(conn, project_id, page_size=1000):
        index.setdefault(task["data"].get("source", ""), []).append(task)
    return index


def image_predictions(tasks: list[dict], mask: np.ndarray, score: float,
                      instances: np.ndarray | None = None) -> list[MaskPrediction]:
    """A full-image mask (and instance map) cut to the image's tasks (tiles get their own crop)."""
    out = []
    for task in tasks:
        tile = task["data"].get("tile")
        crop = TileBox(**tile).crop if tile else (lambda a: a)
        out.append(MaskPrediction(task["id"], crop(mask), score, None if instances is None else crop(instances)))
    return out


def order_by_score(conn: Connection, project_id: int) -> int:
    """A Data Manager tab listing tasks by prediction score, lowest first: the label stream's order, highest
    active-learning priority first; returns its id. Idempotent."""
    data = {"title": SCORE_VIEW, "type": "list", "target": "tasks", "ordering": ["tasks:predictions_score"],
            "filters": {"conjunction": "and", "items": []}}
    views = conn.request("GET", "/api/dm/views/", params={"project": project_id})
    mine = next((v for v in views if (v.get("data") or {}).get("title") == SCORE_VIEW), None)
    if mine:
        conn.request("PATCH", f"/api/dm/views/{mine['id']}/", json={"project": project_id, "data": data})
        return int(mine["id"])
    return int(conn.request("POST", "/api/dm/views/", json={"project": project_id, "data": data})["id"])
