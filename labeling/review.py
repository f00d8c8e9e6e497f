"""Review on Label Studio Community: a reviewer accepts or rejects a submitted annotation, with a comment.

Community has no review or comment API (docs/campaigns-labelstudio.md), so a verdict is written where Community
keeps it and every member can read it: the task's ``meta`` (``grainloop_reviews``: one entry per annotation,
filterable in the Data Manager, so an annotator's "rework" view lists the tasks rejected for them), and the
annotation's ``last_action`` ("accepted" or "rejected", shown with the annotation). A verdict names the
annotation's ``updated_at`` when it was given: once the annotator changes the annotation, the verdict no longer
applies, and the reworked annotation waits for a new one. The pull (labeling/pulltask.py) reads verdicts from the
task it pulls: a rejected annotation never reaches the dataset, an accepted one counts as reviewed.

Task meta is untrusted input like the rest of a task: malformed entries are ignored.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from labeling.api import Connection

REVIEWS_KEY = "grainloop_reviews"  # in the task's meta: annotation id -> verdict
ACCEPTED, REJECTED = "accepted", "rejected"


@dataclass(frozen=True)
class Verdict:
    verdict: str  # ACCEPTED or REJECTED
    comment: str
    reviewer: str
    annotation_updated_at: str  # the annotation as it was reviewed
    at: str

    def applies_to(self, annotation: dict) -> bool:
        return str(annotation.get("updated_at") or "") == self.annotation_updated_at


def review(conn: Connection, annotation_id: int, accept: bool, comment: str = "", reviewer: str = "") -> Verdict:
    """Record a verdict on an annotation, as its last action and in its task's meta."""
    action = ACCEPTED if accept else REJECTED
    conn.request("PATCH", f"/api/annotations/{annotation_id}/", json={"last_action": action})
    annotation = conn.request("GET", f"/api/annotations/{annotation_id}/")  # updated_at after that change
    verdict = Verdict(action, comment[:2000], reviewer, str(annotation.get("updated_at") or ""),
                      datetime.now(timezone.utc).isoformat())
    task = conn.request("GET", f"/api/tasks/{annotation['task']}/")
    meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
    reviews = meta.get(REVIEWS_KEY) if isinstance(meta.get(REVIEWS_KEY), dict) else {}
    meta = {**meta, REVIEWS_KEY: {**reviews, str(annotation_id): asdict(verdict)}}
    conn.request("PATCH", f"/api/tasks/{annotation['task']}/", json={"meta": meta})
    return verdict


def task_reviews(task: dict) -> dict[int, Verdict]:
    """The well-formed verdicts a task's meta holds, by annotation id."""
    meta = task.get("meta")
    reviews = meta.get(REVIEWS_KEY) if isinstance(meta, dict) else None
    out: dict[int, Verdict] = {}
    for key, entry in (reviews or {}).items() if isinstance(reviews, dict) else ():
        try:
            verdict = Verdict(**{f: str(entry[f]) for f in Verdict.__dataclass_fields__})
            if verdict.verdict in (ACCEPTED, REJECTED):
                out[int(key)] = verdict
        except (KeyError, TypeError, ValueError):
            continue
    return out


def apply_reviews(annotations: list[dict], reviews: dict[int, Verdict]) -> tuple[list[dict], list[tuple[int, str]]]:
    """The annotations still in play (accepted ones marked ``reviewed``), and (id, comment) of rejected ones."""
    kept, rejected = [], []
    for a in annotations:
        v = reviews.get(a.get("id")) if isinstance(a.get("id"), int) else None
        if v is not None and v.applies_to(a) and v.verdict == REJECTED:
            rejected.append((a["id"], v.comment))
        elif v is not None and v.applies_to(a):
            kept.append({**a, "reviewed": True})
        else:
            kept.append(a)
    return kept, rejected
