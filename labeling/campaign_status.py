"""A campaign's figures per annotator, from plain inputs: what `grainloop campaign status` and its report show.

Inputs (nothing here calls a server; flows/campaign_status.py gathers them):
- the plan (labeling/campaign.py): the campaign's tasks and gold tasks, and what each annotator was assigned:
  ``tasks_each`` slots plus every gold task;
- the submissions: every submitted (not skipped) annotation of a campaign task, with author and times;
- the pull records of the campaign's tasks (foundation/pullrecord.py): provenance rows with ``edit_iou`` (against
  the pre-annotation the annotation started from) and ``consensus_iou`` (against the task's consensus mask, tasks
  with several annotations), the annotation pairs with their mean IoU, and the reason a task is held;
- the task metas, holding the reviewers' verdicts (labeling/review.py);
- the gold scores (labeling/campaign_server.py ``gold_scores``: per-class IoU with the accepted mask);
- the plan's violations (labeling/campaign_checks.py), listed as they are.

Definitions: *done* counts the campaign tasks an annotator submitted an annotation on, less those whose annotation
was rejected and not changed since (rejected work goes back to its annotator); *rejected* counts those standing
rejections, *reworked* the rejected annotations changed since, which wait for a new verdict. Agreement with the
consensus and the pairwise matrix use every campaign task with several annotations (overlap and gold tasks);
edit cost is the mean of 1 - ``edit_iou``; gold accuracy the mean IoU per class over the annotator's gold
annotations. Progress counts submissions per hour (per day when they span more than two days), in UTC.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from statistics import median

from foundation.pullrecord import AnnotationRow, PullRecord
from labeling.campaign import CampaignPlan
from labeling.campaign_checks import Violation
from labeling.campaign_server import GoldScore
from labeling.consensus import HELD
from labeling.pulltask import annotator
from labeling.review import REJECTED, task_reviews

HOURLY_DAYS = 2  # progress per hour while the submissions span at most this many days, else per day


@dataclass(frozen=True)
class Submission:
    task_id: int
    annotation_id: int
    annotator: str
    created_at: str
    updated_at: str
    lead_time: float | None


def submissions(tasks: Iterable[Mapping]) -> list[Submission]:
    """Every submitted (not skipped) annotation of these Label Studio tasks."""
    return [Submission(int(t["id"]), int(a["id"]), annotator(a), str(a.get("created_at") or ""),
                       str(a.get("updated_at") or ""), _number(a.get("lead_time")))
            for t in tasks for a in t.get("annotations") or [] if not a.get("was_cancelled")]


@dataclass(frozen=True)
class AnnotatorFigures:
    annotator: str
    assigned: int
    done: int
    median_lead_time_s: float | None
    consensus_iou: float | None  # mean IoU with the consensus, tasks with several annotations
    edit_cost: float | None  # mean 1 - IoU with the pre-annotation it started from
    gold_iou: dict[str, float | None]  # per class, mean over the annotator's gold annotations
    rejected: int  # standing rejections: back with the annotator
    reworked: int  # rejected, changed since: waiting for a new verdict
    consensus_by_class: dict[str, float | None] = field(default_factory=dict)  # agreement with the consensus

    @property
    def gold_mean(self) -> float | None:
        return _mean(self.gold_iou.values())


@dataclass(frozen=True)
class CampaignStatus:
    name: str
    tasks: int  # campaign tasks, gold included
    asked: int  # annotations the plan asks for
    submitted: int
    annotators: tuple[AnnotatorFigures, ...]
    held: tuple[tuple[int, str], ...]  # (task, reason): annotators disagree, waiting for a review
    progress: tuple[tuple[str, int], ...]  # (hour or day, UTC; annotations submitted in it)
    names: tuple[str, ...]  # the pairwise matrix's rows and columns
    pairwise: tuple[tuple[float | None, ...], ...]  # mean IoU between two annotators' masks of the same task
    violations: tuple[Violation, ...] = ()  # what the server holds against the plan (Community enforces none)
    closed_at: str = ""  # when the campaign was closed; "" while it runs

    def to_dict(self) -> dict:
        out = asdict(self)
        for row, figures in zip(out["annotators"], self.annotators):
            row["gold_mean"] = figures.gold_mean
        return out


def _number(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def by_class(rows: Iterable[AnnotationRow]) -> dict[str, float | None]:
    """Mean IoU with the consensus per class, over the rows that have it."""
    per = [row.consensus_by_class for row in rows if isinstance(row.consensus_by_class, dict)]
    return {c: _mean(d.get(c) for d in per) for c in sorted({c for d in per for c in d})}


def _utc(stamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def progress(subs: Iterable[Submission]) -> tuple[tuple[str, int], ...]:
    """Submissions per hour ("YYYY-MM-DD HH:00"), or per day ("YYYY-MM-DD") over more than HOURLY_DAYS days."""
    moments = sorted(m for s in subs if (m := _utc(s.created_at)) is not None)
    if not moments:
        return ()
    hourly = (moments[-1].date() - moments[0].date()).days < HOURLY_DAYS
    counts: dict[str, int] = defaultdict(int)
    for m in moments:
        counts[m.strftime("%Y-%m-%d %H:00" if hourly else "%Y-%m-%d")] += 1
    return tuple(sorted(counts.items()))


def pairwise(records: Iterable[PullRecord], names: tuple[str, ...]) -> tuple[tuple[float | None, ...], ...]:
    """Mean pair IoU between annotators (records' pairs, mapped to annotators through their provenance)."""
    records = list(records)
    author = {row.annotation_id: row.annotator for r in records for row in r.provenance}
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in records:
        for a, b, score in r.pairs:
            x, y = author.get(a), author.get(b)
            if score is not None and x and y and x != y:
                scores[(x, y)].append(score)
                scores[(y, x)].append(score)
    return tuple(tuple(_mean(scores.get((x, y), ())) for y in names) for x in names)


def _rejections(subs: list[Submission], metas: Mapping[int, Mapping]) -> dict[int, str]:
    """Annotation id -> "rejected" (the verdict stands) or "reworked" (changed since the rejection)."""
    out: dict[int, str] = {}
    updated = {s.annotation_id: s.updated_at for s in subs}
    for task_id, meta in metas.items():
        for annotation_id, verdict in task_reviews({"meta": meta}).items():
            if verdict.verdict == REJECTED and annotation_id in updated:
                stands = verdict.annotation_updated_at == updated[annotation_id]
                out[annotation_id] = "rejected" if stands else "reworked"
    return out


def campaign_status(plan: CampaignPlan, records: Iterable[PullRecord], subs: Iterable[Submission],
                    metas: Mapping[int, Mapping], gold: Iterable[GoldScore],
                    violations: Iterable[Violation] = ()) -> CampaignStatus:
    """The campaign's figures (see the module's docstring for what each one counts)."""
    ids = {t.id for t in plan.tasks} | plan.gold_ids
    records = [r for r in records if r.task_id in ids]
    subs = [s for s in subs if s.task_id in ids]
    rejections = _rejections(subs, {k: v for k, v in metas.items() if k in ids})
    gold_by: dict[str, list[GoldScore]] = defaultdict(list)
    for g in gold:
        if g.task_id in plan.gold_ids:
            gold_by[g.annotator].append(g)
    rows_by: dict[str, list] = defaultdict(list)
    for r in records:
        for row in r.provenance:
            rows_by[str(row.annotator)].append(row)
    seen = {s.annotator for s in subs} | set(gold_by)
    names = tuple(plan.spec.annotators) + tuple(sorted(seen - set(plan.spec.annotators)))
    planned = set(plan.spec.annotators)
    figures = []
    for name in names:
        mine = [s for s in subs if s.annotator == name]
        rows = rows_by.get(name, [])
        classes = sorted({c for g in gold_by.get(name, []) for c in g.iou})
        figures.append(AnnotatorFigures(
            name, plan.spec.tasks_each + len(plan.gold) if name in planned else 0,
            len({s.task_id for s in mine if rejections.get(s.annotation_id) != "rejected"}),
            median(leads) if (leads := [s.lead_time for s in mine if s.lead_time is not None]) else None,
            _mean(row.consensus_iou for row in rows),
            _mean(None if row.edit_iou is None else 1.0 - row.edit_iou for row in rows),
            {c: _mean(g.iou.get(c) for g in gold_by[name]) for c in classes},
            sum(rejections.get(s.annotation_id) == "rejected" for s in mine),
            sum(rejections.get(s.annotation_id) == "reworked" for s in mine), by_class(rows)))
    held = tuple((r.task_id, str(r.reason)) for r in records if str(r.reason or "").startswith(HELD))
    return CampaignStatus(plan.name, len(ids), sum(plan.overlaps().values()), len(subs), tuple(figures), held,
                          progress(subs), names, pairwise(records, names), tuple(violations), plan.closed_at)
