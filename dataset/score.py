"""Score an outside submission, a folder of predicted masks, against a release's test masks (blind scoring).

Predictions are PNGs named by the manifest id of each test image (or its image's file stem). 16-bit files are
instance maps (0 = background): pixel metrics of their foreground and grain metrics (F1, AP50, PQ, count error,
size-distribution error). 8-bit files are class maps in the label schema's order: pixel metrics only. The masks
come from the release itself or, for a release that withholds them, from its private folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from dataset.manifest import SCHEMA, ManifestRow, read_manifest
from dataset.release import WITHHELD_SPLIT
from foundation.schema import LabelSchema
from ml.grain_eval import instance_grain_metrics
from ml.instances import instances_from_class_map
from ml.io import ImageReadError, read_mask
from ml.metrics import MEAN_FG_IOU, SIZE_ERROR, SegmentationMetrics
from ml.targets import IGNORE_INDEX

KINDS = {np.dtype(np.uint16): "instance", np.dtype(np.uint8): "class"}  # the predictions' dtype names their kind
AUTO = "auto"  # the kind from the files' bit depth
HEADLINE = (MEAN_FG_IOU, "mean_iou", "pixel_accuracy", "boundary_f1", "grains/f1", "grains/pq", "grains/count_error",
            SIZE_ERROR)  # the figures `grainloop score` prints; its JSON has them all
FOREGROUND_NAMES = ("background", "foreground")  # the two classes an instance map's pixels are scored on


class SubmissionError(ValueError):
    """The submission cannot be scored; the message lists every problem."""


@dataclass(frozen=True)
class ScoreConfig:
    """What to score: a release folder, the submission's folder, and the private folder of withheld masks."""

    release: Path
    predictions: Path
    private: Optional[Path] = None
    kind: str = AUTO  # or "instance" / "class": overrides the bit depth (an 8-bit file may hold < 256 grains)

    def __post_init__(self):
        if self.kind not in (AUTO, *KINDS.values()):
            raise SubmissionError(f"unknown kind {self.kind!r}; valid: {[AUTO, *KINDS.values()]}")


@dataclass(frozen=True)
class Truth:
    row: ManifestRow
    class_map: np.ndarray
    instances: np.ndarray


def _truths(cfg: ScoreConfig, schema: LabelSchema) -> list[Truth]:
    rows = [r for r in read_manifest(cfg.release) if r.split == WITHHELD_SPLIT]
    if not rows:
        raise SubmissionError(f"the release {cfg.release} has no {WITHHELD_SPLIT} images")
    root = cfg.private or cfg.release
    missing = [r.mask for r in rows if not (root / r.mask).exists()]
    if missing:
        hint = "" if cfg.private else " (the release withholds them: give --private DIR)"
        raise SubmissionError(f"{len(missing)} {WITHHELD_SPLIT} mask(s) missing under {root}{hint}: {missing}")
    out = []
    for row in rows:
        class_map = read_mask(root / row.mask)
        inst = (read_mask(root / row.instances) if row.instances else
                instances_from_class_map(np.where(class_map == IGNORE_INDEX, 0, class_map), schema).labels)
        out.append(Truth(row, class_map, inst))
    return out


def _file_of(truth: Truth, files: dict[str, Path]) -> Optional[Path]:
    return files.get(truth.row.id) or files.get(Path(truth.row.image).stem)


def read_submission(truths: list[Truth], folder: Path, kind: str = AUTO) -> tuple[str, dict[str, np.ndarray]]:
    """The submission's kind and its maps by image id; a SubmissionError lists missing, unknown, unreadable and
    mis-sized files and mixed kinds."""
    if not folder.is_dir():
        raise SubmissionError(f"no predictions folder {folder}")
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
    expected = {t.row.id: _file_of(t, files) for t in truths}
    used = {p for p in expected.values() if p}
    problems = [f"missing prediction(s): {[t.row.id + '.png' for t in truths if not expected[t.row.id]]}"
                ] if not all(expected.values()) else []
    unknown = sorted(p.name for p in files.values() if p not in used)
    if unknown:
        problems.append(f"unknown file(s), not a {WITHHELD_SPLIT} image of the release: {unknown}")
    maps, kinds = {}, {}
    for t in truths:
        path = expected[t.row.id]
        if path is None:
            continue
        try:
            arr = read_mask(path)
        except ImageReadError as exc:
            problems.append(f"unreadable: {exc}")
            continue
        if arr.shape != t.class_map.shape:
            problems.append(f"mis-sized {path.name}: expected {t.class_map.shape}, got {arr.shape}")
        kinds.setdefault(KINDS.get(arr.dtype, f"{arr.dtype} (not 8- or 16-bit)"), []).append(path.name)
        maps[t.row.id] = arr
    if kind != AUTO and kinds:
        kinds = {kind: [n for names in kinds.values() for n in names]}
    if len(kinds) > 1 or (kinds and set(kinds) - set(KINDS.values())):
        problems.append("predictions must all be 16-bit instance maps or all 8-bit class maps, got: "
                        + "; ".join(f"{k}: {v}" for k, v in kinds.items()))
    if problems:
        raise SubmissionError(f"the submission in {folder} cannot be scored:\n- " + "\n- ".join(problems))
    return next(iter(kinds)), maps


def _pixel_metrics(truths: list[Truth], maps: dict[str, np.ndarray], kind: str, schema: LabelSchema):
    """Pixel metrics over the schema's classes; an instance map's foreground against the truth's foreground
    (classes named background, foreground unless the schema has one class)."""
    collapse = kind == "instance"
    names = list(schema.class_names) if not collapse or len(schema.class_names) == 2 else list(FOREGROUND_NAMES)
    metrics = SegmentationMetrics(len(names), names, ignore_index=IGNORE_INDEX)
    for t in truths:
        pred, target = maps[t.row.id], t.class_map
        if collapse:
            pred, target = (pred > 0).astype(np.uint8), np.where(target == IGNORE_INDEX, target, target > 0)
        try:
            metrics.update(pred, target, image_id=t.row.id)
        except ValueError as exc:
            raise SubmissionError(f"{t.row.id}: {exc} (classes: {names}; an instance map must be 16-bit, "
                                  "or give the kind)") from exc
    return metrics


def score_submission(cfg: ScoreConfig) -> dict:
    """The scores of a submission: its kind, dataset metrics and one row per image."""
    schema = LabelSchema.load(cfg.release / SCHEMA)
    truths = _truths(cfg, schema)
    kind, maps = read_submission(truths, cfg.predictions, cfg.kind)
    pixels = _pixel_metrics(truths, maps, kind, schema)
    metrics = pixels.compute()
    if kind == "instance":
        metrics.update(instance_grain_metrics({t.row.id: t.instances for t in truths},
                                              {k: v.astype(np.int64) for k, v in maps.items()}))
    return {"release": str(cfg.release), "predictions": str(cfg.predictions), "kind": kind,
            "split": WITHHELD_SPLIT, "images": len(truths), "metrics": metrics, "rows": pixels.rows}
