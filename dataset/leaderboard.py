"""The release's leaderboard file: one row per scored entry, an entry's scores reused, never recomputed.

Outside submissions (`grainloop score --name`) are recorded with ``source`` = outside and the digest of the
submitted files, so the same name with other files is refused instead of silently replacing a score.
"""
from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from foundation.atomic import write_atomic
from foundation.digest import sha256_file

LEADERBOARD = "leaderboard.csv"
OUTSIDE = "outside"  # the source of an entry scored from submitted files
META = ("entry", "source", "kind", "images", "submission_sha256", "scored_at")


class LeaderboardError(ValueError):
    """An entry cannot be recorded (its name is taken by another submission)."""


def submission_digest(folder: Path) -> str:
    """One sha256 over the submitted files' names and contents."""
    h = hashlib.sha256()
    for p in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        h.update(f"{p.name}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def read_leaderboard(release: Path) -> list[dict]:
    path = release / LEADERBOARD
    return list(csv.DictReader(io.StringIO(path.read_text()))) if path.exists() else []


def _write(release: Path, rows: list[dict]) -> None:
    fields = list(META) + sorted({k for r in rows for k in r} - set(META))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(release / LEADERBOARD, buf.getvalue())


def outside_entry(release: Path, name: str, predictions: Path, score: Callable[[], dict],
                  metric_keys: tuple[str, ...]) -> tuple[dict, bool]:
    """The leaderboard row of the outside entry ``name``: the recorded one when the same files were scored under
    that name (True: reused), else ``score()``'s result recorded as a new row (False)."""
    digest, rows = submission_digest(predictions), read_leaderboard(release)
    found: Optional[dict] = next((r for r in rows if r["entry"] == name), None)
    if found is not None:
        if found["submission_sha256"] != digest:
            raise LeaderboardError(f"the entry {name!r} is already on {release / LEADERBOARD} with other files "
                                   f"(sha256 {found['submission_sha256'][:12]}, these {digest[:12]}): choose "
                                   f"another name; entries: {[r['entry'] for r in rows]}")
        return found, True
    result = score()
    row = {"entry": name, "source": OUTSIDE, "kind": result["kind"], "images": result["images"],
           "submission_sha256": digest, "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           **{k: result["metrics"][k] for k in metric_keys if k in result["metrics"]}}
    _write(release, rows + [row])
    return row, False
