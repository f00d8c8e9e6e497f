"""Where a pull writes: mask files, per-task records, the reports rebuilt from them, and the watermark.

Every task has one record file, rewritten whole (atomically) each time the task is pulled, so a rerun after
a crash overwrites instead of doubling, and the reports (provenance.csv, agreement.csv, quarantine.json) are
rebuilt from the records at the end of every pull.
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from foundation.atomic import atomic_path, write_atomic
from foundation.paths import PathEscape, component, inside
from foundation.pullrecord import PullRecord, Quarantined
from foundation.schema import LabelSchema
from labeling.pulltask import TaskResult
from labeling.tiled import image_records, waiting
from labeling.tiles import TileBox, TilingConfig, merge_tiles, tile_boxes

TASK_DELETED = "task deleted in Label Studio"
PROVENANCE_FIELDS = ("task_id", "annotation_id", "annotator", "lead_time", "created_at", "updated_at",
                     "parent_prediction", "prediction_model_version", "edit_iou", "consensus_iou",
                     "consensus_by_class", "chosen", "policy", "schema_hash", "source", "tile", "mask")
INSTANCES = "instances"  # the pull folder's instance maps, beside masks/ (where a task's regions split grains)
QUARANTINE = "quarantine.json"  # the refused annotations and tasks of a pull folder, with their reasons


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=1, default=str).encode())


def write_png(path: Path, mask: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(mask).save(tmp, format="PNG", compress_level=1)


@dataclass(frozen=True)
class PullStore:
    out: Path
    schema: LabelSchema

    def check_schema(self) -> None:
        """The folder's masks use one schema: refuse to mix in masks of another."""
        path = self.out / "schema.json"
        if path.exists() and json.loads(path.read_text()).get("hash") != self.schema.hash:
            raise ValueError(f"{self.out} holds masks of another label schema ({path}); pull into a new folder")
        write_json(path, {**self.schema.to_dict(), "hash": self.schema.hash})

    def load_state(self, project_id: int) -> dict:
        path = self.out / "state.json"
        state = json.loads(path.read_text()) if path.exists() else {}
        if state and state.get("project_id") != project_id:
            raise ValueError(f"{self.out} was pulled from project {state.get('project_id')}, not {project_id}")
        return state or {"project_id": project_id, "watermark": None, "at_watermark": []}

    def save_state(self, state: dict) -> None:
        write_json(self.out / "state.json", state)

    def mask_path(self, result: TaskResult, folder: str = "masks") -> Path:
        """masks/<source>.png (or the same under ``folder``, e.g. instances/); PathEscape if the task's source
        (server data) would leave that folder."""
        source, masks = result.data.get("source"), self.out / folder
        if not source:
            return masks / f"task-{result.task_id}.png"
        inside(masks, source)  # the source itself first: with_suffix below needs a name
        return inside(masks, str(Path(source).with_suffix(".png")))

    def tile_path(self, result: TaskResult) -> Path:
        """tiles/<sha256>/<box>.png; PathEscape if the sha256 or the box (server data) is not a plain name."""
        box = TileBox(**result.data["tile"])
        folder = component(result.data.get("sha256", str(result.task_id)))
        return inside(self.out / "tiles", f"{folder}/{component(f'{box.key}.png')}")

    def save(self, result: TaskResult) -> str | None:
        """Write the task's mask (or remove a stale one) and its record; return the mask's relative path.
        PathEscape, before anything is written, if the task's data would put a file outside the pull folder."""
        self.mask_path(result)
        grains = None  # a tiled image's grains are not assembled: its class map's components stand for them
        if result.data.get("tile"):
            written = self._save_tile(result)
        else:
            written = self._put(self.mask_path(result), result.mask)
            grains = self._put(self.mask_path(result, INSTANCES), result.instances if written else None)
        write_json(self.out / "records" / f"{result.task_id}.json", self._record(result, written, grains))
        return written

    def _put(self, path: Path, mask: np.ndarray | None) -> str | None:
        if mask is None:
            path.unlink(missing_ok=True)
            return None
        write_png(path, mask.astype(np.uint16) if mask.max(initial=0) > 255 else mask.astype(np.uint8))
        return str(path.relative_to(self.out))

    def _save_tile(self, result: TaskResult) -> str | None:
        """Write the tile's mask; once every tile of the image has one, assemble the full mask."""
        tile = self._put(self.tile_path(result), result.mask)
        data = result.data
        height, width = int(data["height"]), int(data["width"])
        tiling = TilingConfig(**data["tiling"])
        folder = self.tile_path(result).parent
        grid = tile_boxes(height, width, tiling)
        if tile is None or not all((folder / f"{b.key}.png").exists() for b in grid):
            self.mask_path(result).unlink(missing_ok=True)
            return tile
        tiles = {b: np.asarray(Image.open(folder / f"{b.key}.png")) for b in grid}
        self._put(self.mask_path(result), merge_tiles(tiles, height, width, tiling))
        return tile

    def _record(self, result: TaskResult, mask: str | None, grains: str | None = None) -> dict:
        extra = {"source": result.data.get("source"), "tile": result.data.get("tile"), "mask": mask}
        record = {"task_id": result.task_id, **extra, "instances": grains, "chosen": result.chosen,
                  "agreement": result.agreement,
                  "pairs": result.pairs,
                  "provenance": [{**row, **extra} for row in result.provenance], "quarantine": result.quarantine,
                  "tile_count": _tile_count(result.data), "reason": None if mask else no_mask_reason(result)}
        return PullRecord.from_dict(record).to_dict()

    def records(self) -> list[PullRecord]:
        """Every pulled task's record, in task order: what the dataset stage turns into rows."""
        return read_records(self.out)

    def full_mask(self, tile: PullRecord) -> str | None:
        """The assembled mask of a tile record's image, relative to the pull folder, if it is there."""
        try:
            path = self.mask_path(TaskResult(tile.task_id, {"source": tile.source}))
        except PathEscape:  # a record written before sources were checked
            return None
        return str(path.relative_to(self.out)) if path.exists() else None

    def live_task_ids(self) -> set[int]:
        """Tasks with a record that is not marked deleted (the ones to look for on the server)."""
        return {r.task_id for r in self.records() if r.reason != TASK_DELETED}

    def forget(self, task_id: int, reason: str = TASK_DELETED) -> None:
        """A task deleted in Label Studio: its masks go, its record stays with no mask and the reason (so the
        dataset stage drops its row), and a tiled image's assembled mask goes too."""
        path = self.out / "records" / f"{task_id}.json"
        old = PullRecord.from_dict(json.loads(path.read_text()))
        if old.tile:
            full = self.full_mask(old)
            if full:
                (self.out / full).unlink(missing_ok=True)
        for kept in (old.mask, old.instances):
            if kept:
                (self.out / kept).unlink(missing_ok=True)
        new = PullRecord(old.task_id, old.source, old.tile, None, tile_count=old.tile_count, reason=reason)
        write_json(path, new.to_dict())

    def image_records(self) -> list[PullRecord]:
        """One record per image: a tiled image's tile records merged (labeling/tiled.py)."""
        return image_records(self.records(), self.full_mask)

    def rebuild_reports(self) -> tuple[int, int]:
        """provenance.csv, agreement.csv, quarantine.json and waiting.json (tiled images not yet complete) from the
        records; (#provenance rows, #quarantined)."""
        records = self.records()
        write_json(self.out / "waiting.json", waiting(image_records(records, self.full_mask)))
        rows = [asdict(row) for r in records for row in r.provenance]
        self._csv("provenance.csv", PROVENANCE_FIELDS, rows)
        names = self.schema.class_names[1:]
        agree = [{"task_id": r.task_id, "annotations": len(r.provenance), **r.agreement}
                 for r in records if r.agreement]
        self._csv("agreement.csv", ("task_id", "annotations", *names), agree)
        quarantine = [asdict(q) for r in records for q in r.quarantine]
        write_json(self.out / QUARANTINE, quarantine)
        return len(rows), len(quarantine)

    def _csv(self, name: str, fields: tuple[str, ...], rows: list[dict]) -> None:
        with atomic_path(self.out / name) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()} for row in rows)


def _tile_count(data: dict) -> int:
    if not data.get("tile"):
        return 0
    return len(tile_boxes(int(data["height"]), int(data["width"]), TilingConfig(**data["tiling"])))


def no_mask_reason(result: TaskResult) -> str:
    """Why a pulled task has no mask (the dataset stage drops the image's row with this reason)."""
    if result.held:
        return result.held
    if result.rejected and not result.quarantine:
        return "rejected in review: " + "; ".join(f"annotation {i}: {c or 'no comment'}" for i, c in result.rejected)
    if result.quarantine:
        return "invalid: " + "; ".join(str(q.get("reason")) for q in result.quarantine)
    if result.cancelled:
        return "annotation skipped (cancelled)"
    return "annotation deleted (no annotation left in Label Studio)"


def read_records(out: Path) -> list[PullRecord]:
    """The records of a pull folder, in task order (none before the first pull)."""
    folder = out / "records"
    paths = sorted(folder.glob("*.json"), key=lambda p: int(p.stem)) if folder.exists() else []
    return [PullRecord.from_dict(json.loads(p.read_text())) for p in paths]


def read_quarantine(path: Path) -> tuple[Quarantined, ...]:
    """The refusals a pull folder's quarantine.json (QUARANTINE) holds; none before the first pull."""
    if not path.exists():
        return ()
    return tuple(Quarantined(q.get("task_id"), str(q.get("reason")), q.get("annotation_id"), q.get("source"))
                 for q in json.loads(path.read_text()))
