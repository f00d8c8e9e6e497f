"""The records of a tiled image's tile tasks become one record of the image.

The pull keeps one record per task; a large image imported as tiles has one per tile, each with its tile mask.
Once every tile is annotated the pull store assembles the full mask, and the image's record is the union of its
tiles' records: the full mask, ``task_id`` the first tile's task (the manifest's ``ls_task_id``), ``task_ids``
every tile's task, and every tile's provenance (annotators, annotation ids). Until then the image's record has
no mask and says it is waiting, with how many of its tiles are annotated: never dropped without a reason.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Optional

from foundation.pullrecord import PullRecord


def _agreement(records: list[PullRecord]) -> dict[str, Optional[float]]:
    """Per class, the mean over the tiles that measured it."""
    names = {k for r in records for k in r.agreement}
    values = {k: [r.agreement[k] for r in records if isinstance(r.agreement.get(k), (int, float))] for k in names}
    return {k: (sum(v) / len(v) if v else None) for k, v in sorted(values.items())}


def waiting_reason(tiles: list[PullRecord], total: int) -> str:
    done = sum(1 for r in tiles if r.mask)
    why = [f"tile task {r.task_id}: {r.reason}" for r in tiles if not r.mask and r.reason]
    return "; ".join([f"waiting for tiles: {done} of {total} annotated", *why])


def merge(tiles: list[PullRecord], full_mask: Optional[str]) -> PullRecord:
    """One image's record from its tiles' records; full_mask: the assembled mask, None when it is absent."""
    tiles = sorted(tiles, key=lambda r: r.task_id)
    total = max(r.tile_count for r in tiles) or len(tiles)
    complete = full_mask is not None and len(tiles) >= total and all(r.mask for r in tiles)
    return PullRecord(task_id=tiles[0].task_id, source=tiles[0].source, tile=None,
                      mask=full_mask if complete else None, chosen=tuple(i for r in tiles for i in r.chosen),
                      agreement=_agreement(tiles), provenance=tuple(p for r in tiles for p in r.provenance),
                      quarantine=tuple(q for r in tiles for q in r.quarantine), tile_count=total,
                      tiles_annotated=sum(1 for r in tiles if r.mask),
                      task_ids=tuple(r.task_id for r in tiles), reason=None if complete else waiting_reason(tiles, total),
                      pairs=tuple(p for r in tiles for p in r.pairs))


def image_records(records: Iterable[PullRecord], full_mask: Callable[[PullRecord], Optional[str]]) -> list[PullRecord]:
    """Whole-image records in task order: untiled tasks as they are, each tiled image's tiles merged into one.
    ``full_mask(tile record)`` is the assembled mask's relative path if it exists, else None."""
    out: list[PullRecord] = []
    groups: dict[str, list[PullRecord]] = {}
    for record in records:
        if record.tile and record.source:
            if record.source not in groups:
                groups[record.source] = []
                out.append(record)  # a placeholder, at the first tile's position
            groups[record.source].append(record)
        else:
            out.append(record)
    merged = {source: merge(tiles, full_mask(tiles[0])) for source, tiles in groups.items()}
    return [merged[r.source] if r.tile and r.source else r for r in out]


def waiting(records: Iterable[PullRecord]) -> list[dict]:
    """The tiled images not yet complete: source, tiles annotated, tile count, tile tasks, why."""
    return [{"source": r.source, "annotated": r.tiles_annotated, "tiles": r.tile_count, "task_ids": list(r.task_ids),
             "reason": r.reason} for r in records if r.tile_count and not r.mask]
