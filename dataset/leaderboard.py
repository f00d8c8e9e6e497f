"""The release's leaderboard file: one row per scored entry, an entry's scores reused, never recomputed.

Outside submissions (`grainloop score --name`) are recorded with ``source`` = outside and the digest of the
submitted files, so the same name with other files is refused instead of silently replacing a score. Registered
model versions (`grainloop leaderboard`) are recorded with ``source`` = registered, their model name and version,
and the digest of the release's test split they were scored on: that (model, version, release) is never scored
again; a row scored on other test files (the release folder was rewritten) is replaced.
"""
from __future__ import annotations

import csv
import hashlib
import io
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from dataset.manifest import SCHEMA, read_manifest, write_manifest
from dataset.release import WITHHELD_SPLIT
from foundation.atomic import write_atomic
from foundation.digest import sha256_file
from ml.metrics import CLASS_IOU_PREFIX

LEADERBOARD = "leaderboard.csv"
OUTSIDE = "outside"  # the source of an entry scored from submitted files
REGISTERED = "registered"  # the source of a registered model version scored on the release
MODEL_KIND = "model"  # the kind of a registered version's row: its class maps, split into grains as promotion does
META = ("entry", "source", "kind", "images", "model", "version", "release_sha256", "submission_sha256", "scored_at")


class LeaderboardError(ValueError):
    """An entry cannot be recorded (its name is taken by another submission)."""


def submission_digest(folder: Path) -> str:
    """One sha256 over the submitted files' names and contents."""
    h = hashlib.sha256()
    for p in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        h.update(f"{p.name}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def release_digest(release: Path, private: Optional[Path] = None) -> str:
    """One sha256 over what a score on the release depends on: its label schema and its test split's image and
    mask files (names and contents), the masks from the private folder of a release that withholds them."""
    h = hashlib.sha256(f"{SCHEMA}\0{sha256_file(release / SCHEMA)}\n".encode())
    for row in sorted((r for r in read_manifest(release) if r.split == WITHHELD_SPLIT), key=lambda r: r.id):
        for root, rel in ((release, row.image), *((release, c) for c in row.channels), (private or release, row.mask)):
            if rel and (root / rel).exists():
                h.update(f"{rel}\0{sha256_file(root / rel)}\n".encode())
    return h.hexdigest()


def scoring_view(release: Path, dest: Path, private: Optional[Path] = None) -> Path:
    """dest as a dataset folder of the release's test split alone: those manifest rows, the schema, and links to
    their images (and channels) in the release and to their masks there or, for a release that withholds them, in
    the private folder. Nothing of the other splits is in it."""
    rows, root = [r for r in read_manifest(release) if r.split == WITHHELD_SPLIT], private or release
    missing = [r.mask for r in rows if not (root / r.mask).exists()]
    if not rows or missing:
        hint = f"not in {private}" if private else "the release withholds them: give its private folder"
        raise LeaderboardError(f"the release {release} has no {WITHHELD_SPLIT} images" if not rows else
                               f"{len(missing)} {WITHHELD_SPLIT} mask(s) missing ({hint}): {missing[:5]}")
    for row in rows:
        for base, rel in ((release, row.image), *((release, c) for c in row.channels), (root, row.mask)):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).symlink_to((base / rel).resolve())
    write_manifest(dest, rows)
    shutil.copyfile(release / SCHEMA, dest / SCHEMA)
    return dest


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
    row = _new_row(name, OUTSIDE, score(), metric_keys, submission_sha256=digest)
    _write(release, rows + [row])
    return row, False


def _new_row(name: str, source: str, result: dict, metric_keys: tuple[str, ...], **ids) -> dict:
    """A leaderboard row of a scoring result (kind, images, metrics): the metric keys asked for, and the IoU of
    every class the result has."""
    metrics = result["metrics"]
    keys = (*metric_keys, *sorted(k for k in metrics if k.startswith(CLASS_IOU_PREFIX)))
    return {"entry": name, "source": source, "kind": result["kind"], "images": result["images"], **ids,
            "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **{k: metrics[k] for k in dict.fromkeys(keys) if k in metrics}}


def registered_entry(release: Path, name: str, model: str, version: str, digest: str, score: Callable[[], dict],
                     metric_keys: tuple[str, ...]) -> tuple[dict, bool]:
    """The leaderboard row of a registered model version: the recorded one when that version of that model was
    scored on this release's test split (same digest; True: reused), else ``score()``'s result (kind, images,
    metrics) recorded as its row (False), replacing a row of the entry scored on other test files."""
    rows = read_leaderboard(release)
    mine = [r for r in rows if r["source"] == REGISTERED and (r["model"], r["version"]) == (model, str(version))]
    found = next((r for r in mine if r["release_sha256"] == digest), None)
    if found is not None:
        return found, True
    taken = next((r for r in rows if r["entry"] == name and r not in mine), None)
    if taken is not None:
        raise LeaderboardError(f"the entry {name!r} is already on {release / LEADERBOARD} as an {taken['source']} "
                               "entry: rename that entry")
    row = _new_row(name, REGISTERED, score(), metric_keys, model=model, version=str(version), release_sha256=digest)
    _write(release, [r for r in rows if r not in mine] + [row])
    return row, False
