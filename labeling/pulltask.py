"""One task of a pull: its annotations become a class mask, provenance rows and quarantine entries.

Cancelled (skipped) annotations are not data. Every other annotation either decodes to a mask or is
quarantined with its reason; the policy then picks among the good ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from foundation.schema import LabelSchema
from foundation.semimage import ImageReadError, image_size
from labeling.masks import BadRegion
from labeling.policy import Candidate, agreement, choose, mean_iou
from labeling.regions import results_to_mask


@dataclass
class TaskResult:
    task_id: int
    data: dict[str, Any]
    mask: np.ndarray | None = None
    chosen: list[int] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)
    agreement: dict[str, float | None] = field(default_factory=dict)
    quarantine: list[dict] = field(default_factory=list)

    def bad(self, annotation_id: int | None, reason: str) -> None:
        self.quarantine.append({"task_id": self.task_id, "annotation_id": annotation_id, "reason": reason,
                                "source": self.data.get("source")})


def image_path(data: dict, document_root: Path | None) -> Path | None:
    """The file behind a /data/local-files/?d=... task URL, if it is one."""
    url = str(data.get("image", ""))
    if document_root is None or not url.startswith("/data/local-files/"):
        return None
    rel = parse_qs(urlparse(url).query).get("d", [""])[0]
    return document_root / rel


def task_size(task: dict, document_root: Path | None) -> tuple[int, int] | None:
    """(height, width) of the task's image: from the file when it can be checked, else from the task data."""
    data = task.get("data", {})
    path = image_path(data, document_root)
    if path is not None:
        try:
            return image_size(path)
        except ImageReadError as e:
            raise BadRegion(f"image no longer loads: {e}") from None
    tile = data.get("tile") or {}
    height, width = tile.get("height", data.get("height")), tile.get("width", data.get("width"))
    return (int(height), int(width)) if height and width else None


def result_size(annotation: dict) -> tuple[int, int]:
    for r in annotation.get("result") or []:
        if r.get("original_height") and r.get("original_width"):
            return int(r["original_height"]), int(r["original_width"])
    raise BadRegion("image size unknown (no task size, no original_width/height)")


def decode(annotation: dict, schema: LabelSchema, size: tuple[int, int] | None) -> np.ndarray:
    height, width = size or result_size(annotation)
    return results_to_mask(annotation.get("result") or [], schema, height, width)


def annotator(annotation: dict) -> str:
    name = str(annotation.get("created_username") or "").split(",")[0].strip()
    return name or str(annotation.get("completed_by", ""))


def parent_prediction(annotation: dict, predictions: list[dict]) -> dict | None:
    wanted = annotation.get("parent_prediction")
    return next((p for p in predictions if p.get("id") == wanted), None) if wanted else None


def edit_iou(pred: dict | None, mask: np.ndarray, schema: LabelSchema) -> float | None:
    """IoU between the pre-annotation the annotator started from and what they submitted."""
    if pred is None:
        return None
    try:
        return mean_iou(results_to_mask(pred.get("result") or [], schema, *mask.shape), mask, len(schema.class_names))
    except BadRegion:
        return None


def provenance_row(task_id: int, c: Candidate, pred: dict | None, schema: LabelSchema, chosen: bool,
                   policy: str) -> dict:
    a = c.annotation
    return {"task_id": task_id, "annotation_id": a.get("id"), "annotator": annotator(a),
            "lead_time": a.get("lead_time"), "created_at": a.get("created_at"), "updated_at": a.get("updated_at"),
            "parent_prediction": a.get("parent_prediction"),
            "prediction_model_version": pred.get("model_version") if pred else None,
            "edit_iou": edit_iou(pred, c.mask, schema), "chosen": chosen, "policy": policy,
            "schema_hash": schema.hash}


def process_task(task: dict, schema: LabelSchema, policy: str, document_root: Path | None) -> TaskResult:
    """Decode, choose and describe one task's annotations; never raises for bad annotations."""
    result = TaskResult(int(task["id"]), task.get("data", {}))
    annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not annotations:
        return result
    try:
        size = task_size(task, document_root)
    except BadRegion as e:
        result.bad(None, str(e))
        return result
    candidates = _candidates(annotations, schema, size, result)
    if candidates:
        _describe(result, candidates, task.get("predictions") or [], schema, policy)
    return result


def _candidates(annotations: list[dict], schema: LabelSchema, size, result: TaskResult) -> list[Candidate]:
    good = []
    for a in annotations:
        try:
            good.append(Candidate(a, decode(a, schema, size)))
        except BadRegion as e:
            result.bad(a.get("id"), str(e))
    return good


def _describe(result: TaskResult, candidates: list[Candidate], predictions: list[dict], schema: LabelSchema,
              policy: str) -> None:
    result.mask, result.chosen = choose(candidates, policy, len(schema.class_names))
    result.agreement = agreement(candidates, schema.class_names)
    result.provenance = [provenance_row(result.task_id, c, parent_prediction(c.annotation, predictions), schema,
                                        c.annotation.get("id") in result.chosen, policy) for c in candidates]
