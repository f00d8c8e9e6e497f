"""One task of a pull: its annotations become a class mask, provenance rows and quarantine entries.

Cancelled (skipped) annotations are not data. Every other annotation either decodes to a mask or is
quarantined with its reason; the policy then picks among the good ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
from skimage.segmentation import relabel_sequential

from foundation.paths import PathEscape, inside
from foundation.schema import LabelSchema
from foundation.semimage import ImageReadError, image_size
from labeling.consensus import Consensus, gate
from labeling.masks import BadRegion, image_dims
from labeling.policy import Candidate, agreement, choose, iou, mean_iou
from labeling.components import label
from labeling.regions import results_to_instances, results_to_mask
from labeling.review import apply_reviews, task_reviews


@dataclass
class TaskResult:
    task_id: int
    data: dict[str, Any]
    mask: np.ndarray | None = None
    instances: np.ndarray | None = None  # the grains, where the mask is one annotation's and its regions split them
    chosen: list[int] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)
    agreement: dict[str, float | None] = field(default_factory=dict)
    pairs: list[tuple[int, int, float | None]] = field(default_factory=list)  # annotation ids and their mean IoU
    quarantine: list[dict] = field(default_factory=list)
    cancelled: int = 0  # skipped (cancelled) annotations, not data
    held: str | None = None  # why the annotators' masks wait for a review (labeling/consensus.py)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (annotation id, comment) rejected in review

    def bad(self, annotation_id: int | None, reason: str) -> None:
        source = self.data.get("source")
        self.quarantine.append({"task_id": self.task_id, "annotation_id": annotation_id, "reason": reason[:500],
                                "source": source if isinstance(source, str) else repr(source)[:200]})


def image_path(data: dict, document_root: Path | None) -> Path | None:
    """The file behind a /data/local-files/?d=... task URL, if it is one."""
    url = str(data.get("image", ""))
    if document_root is None or not url.startswith("/data/local-files/"):
        return None
    rel = parse_qs(urlparse(url).query).get("d", [""])[0]
    try:
        return inside(document_root, rel)
    except PathEscape as e:
        raise BadRegion(f"image URL leaves the document root: {e}") from None


def task_size(task: dict, document_root: Path | None) -> tuple[int, int] | None:
    """(height, width) of the task's image: from the file when it can be checked, else from the task data."""
    data = task.get("data") or {}
    path = image_path(data, document_root)
    if path is not None:
        try:
            return image_size(path)
        except ImageReadError as e:
            raise BadRegion(f"image no longer loads: {e}") from None
    tile = data.get("tile") if isinstance(data.get("tile"), dict) else {}
    height, width = tile.get("height", data.get("height")), tile.get("width", data.get("width"))
    return image_dims(height, width, "the task's size") if height and width else None


def result_size(results: list) -> tuple[int, int]:
    for r in results:
        if isinstance(r, dict) and r.get("original_height") and r.get("original_width"):
            return image_dims(r["original_height"], r["original_width"], "original_height/width")
    raise BadRegion("image size unknown (no task size, no original_width/height)")


def decode(annotation: dict, schema: LabelSchema, size: tuple[int, int] | None) -> np.ndarray:
    results = annotation.get("result")
    if not isinstance(results, list):
        raise BadRegion(f"result is not a list ({type(results).__name__})")
    height, width = size or result_size(results)
    return results_to_mask(results, schema, height, width)


MAX_GRAINS = 65535  # the most an instance map's 16-bit PNG holds


def grains(result: TaskResult, candidates: list[Candidate], schema: LabelSchema) -> np.ndarray | None:
    """The task's instance map, when its mask is one annotation's and that annotation's regions separate grains
    its class map does not (touching grains drawn one region each); else None, and the class map's connected
    components stand for the grains, as they would anyway. Fused masks (several annotators) and tiles (their
    grains are not assembled across tiles) have no instances."""
    one = [c for c in candidates if c.annotation.get("id") in result.chosen]
    if result.mask is None or result.data.get("tile") or len(one) != 1 or not np.array_equal(one[0].mask, result.mask):
        return None
    ids = results_to_instances(one[0].annotation["result"], schema, *result.mask.shape)
    ids[result.mask == 0] = 0
    ids = relabel_sequential(ids)[0]  # 1..found again
    found = int(ids.max(initial=0))
    components = sum(label(result.mask == v)[1] for v in range(1, len(schema.class_names)))
    return ids if components < found <= MAX_GRAINS else None


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


def process_task(task: dict, schema: LabelSchema, policy: str, document_root: Path | None,
                 consensus: Consensus = Consensus()) -> TaskResult:
    """Decode, choose and describe one task's annotations; never raises for what the task holds: a bad annotation
    is quarantined, and so is the whole task (with the exception's type) if anything else in it fails."""
    data = task.get("data")
    result = TaskResult(int(task["id"]), data if isinstance(data, dict) else {})
    try:
        _process(task, result, schema, policy, document_root, consensus)
    except Exception as e:  # the last line of defence: one task's data never stops the pull
        result = TaskResult(result.task_id, result.data, cancelled=result.cancelled)
        result.bad(None, f"task not processed ({type(e).__name__}: {e})")
    return result


def _process(task: dict, result: TaskResult, schema: LabelSchema, policy: str, document_root: Path | None,
             consensus: Consensus) -> None:
    annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    result.cancelled = len(task.get("annotations") or []) - len(annotations)
    annotations, result.rejected = apply_reviews(annotations, task_reviews(task))
    if not annotations:
        return
    try:
        size = task_size(task, document_root)
    except BadRegion as e:
        result.bad(None, str(e))
        return
    candidates = _candidates(annotations, schema, size, result)
    if candidates:
        _describe(result, candidates, task.get("predictions") or [], schema, policy)
        _gate(result, candidates, consensus)
        result.instances = grains(result, candidates, schema)


def _candidates(annotations: list[dict], schema: LabelSchema, size, result: TaskResult) -> list[Candidate]:
    good = []
    for a in annotations:
        try:
            good.append(Candidate(a, decode(a, schema, size)))
        except BadRegion as e:
            result.bad(a.get("id"), str(e))
        except Exception as e:  # anything the checks missed still stops at this annotation
            result.bad(a.get("id"), f"annotation not decoded ({type(e).__name__}: {e})")
    shapes = sorted({c.mask.shape for c in good})
    if len(shapes) > 1:  # no task size to tell which is right: none of them is
        for c in good:
            result.bad(c.annotation.get("id"), f"the task's annotations disagree on the image size {shapes}")
        return []
    return good


def _describe(result: TaskResult, candidates: list[Candidate], predictions: list[dict], schema: LabelSchema,
              policy: str) -> None:
    result.mask, result.chosen = choose(candidates, policy, len(schema.class_names))
    result.agreement = agreement(candidates, schema.class_names)
    result.provenance = [provenance_row(result.task_id, c, parent_prediction(c.annotation, predictions), schema,
                                        c.annotation.get("id") in result.chosen, policy) for c in candidates]
    if len(candidates) > 1:  # each annotator against the consensus, and every pair: the campaign's figures
        n = len(schema.class_names)
        for row, c in zip(result.provenance, candidates):
            row["consensus_iou"] = mean_iou(c.mask, result.mask, n)
            row["consensus_by_class"] = {name: iou(c.mask == k, result.mask == k)
                                         for k, name in enumerate(schema.class_names[1:], start=1)}
        result.pairs = [(a.annotation.get("id"), b.annotation.get("id"), mean_iou(a.mask, b.mask, n))
                        for a, b in combinations(candidates, 2)]


def _gate(result: TaskResult, candidates: list[Candidate], rule: Consensus) -> None:
    ruling = gate(candidates, result.agreement, rule)
    if ruling is None:
        return
    result.mask, result.chosen, result.held = ruling.mask, ruling.chosen, ruling.held
    for row in result.provenance:
        row["chosen"] = row.get("annotation_id") in result.chosen
        row["policy"] = "reviewed" if ruling.mask is not None else row["policy"]  # a reviewer's verdict decided
