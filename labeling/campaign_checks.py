"""Pull-time checks of a campaign's plan: Label Studio Community enforces none of them when an annotation is written
(docs/campaigns-labelstudio.md: no roles, locks that do not guard writes, any member can edit anyone's work), so
`grainloop campaign status` lists what the server holds against the plan:

- a campaign task (gold included) with more submitted annotations than its planned overlap;
- an annotation by someone not on the roster (the campaign's annotators and reviewers);
- an annotation of a gold task marked ``ground_truth`` by an annotator (the truth lives in plan.json only);
- an annotation last edited by someone other than its author (``updated_by`` != ``completed_by``) where that edit
  is not a reviewer's verdict (labeling/review.py: a verdict that still applies, given by the editor).

Inputs are plain: the plan, the campaign's tasks as Label Studio lists them (with their annotations and meta), and
the organisation's users (id -> e-mail). Skipped annotations are not submissions and are not checked.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from labeling.campaign import CampaignPlan
from labeling.pulltask import annotator
from labeling.review import task_reviews

OVER_OVERLAP = "more annotations than planned"
OFF_ROSTER = "not on the roster"
GOLD_FLAG = "gold flag by an annotator"
FOREIGN_EDIT = "edited by someone else"


@dataclass(frozen=True)
class Violation:
    kind: str  # one of the four above
    task_id: int
    annotation_id: int | None  # None: the task as a whole
    who: str  # the account concerned: author, editor or flagger ("" for the task as a whole)
    detail: str


def _email(user, users: Mapping[int, str]) -> str:
    """A user id as its e-mail (``user N`` when the organisation does not list it); "" for none."""
    if user is None or user == "":
        return ""
    try:
        return users.get(int(user), f"user {user}")
    except (TypeError, ValueError):
        return f"user {user}"


def _annotation_checks(plan: CampaignPlan, task_id: int, annotation: Mapping, verdicts: Mapping,
                       users: Mapping[int, str]) -> list[Violation]:
    roster = set(plan.spec.annotators) | set(plan.reviewers)
    author = _email(annotation.get("completed_by"), users) or annotator(dict(annotation)).lower()
    editor = _email(annotation.get("updated_by"), users)
    aid = int(annotation["id"])
    out = []
    if author not in roster:
        out.append(Violation(OFF_ROSTER, task_id, aid, author, f"annotation by {author}, not an annotator or reviewer"))
    if annotation.get("ground_truth") and task_id in plan.gold_ids:
        flagger = next((who for who in (editor, author) if who in plan.spec.annotators), None)
        if flagger:
            detail = f"gold task's annotation marked ground_truth (by {author}, last edit {editor or '-'})"
            out.append(Violation(GOLD_FLAG, task_id, aid, flagger, detail))
    if editor and editor != author:
        verdict = verdicts.get(aid)
        if not (verdict is not None and verdict.applies_to(dict(annotation)) and verdict.reviewer == editor):
            out.append(Violation(FOREIGN_EDIT, task_id, aid, editor, f"annotation by {author} last edited by "
                                                                     f"{editor}, not as a review verdict"))
    return out


def plan_violations(plan: CampaignPlan, tasks: Iterable[Mapping], users: Mapping[int, str]) -> tuple[Violation, ...]:
    """Every violation of the plan in these tasks (tasks outside the campaign are ignored), by task."""
    overlaps = plan.overlaps()
    out: list[Violation] = []
    for task in sorted(tasks, key=lambda t: int(t["id"])):
        task_id = int(task["id"])
        if task_id not in overlaps:
            continue
        done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if len(done) > overlaps[task_id]:
            out.append(Violation(OVER_OVERLAP, task_id, None, "", f"{len(done)} annotations, planned overlap "
                                                                  f"{overlaps[task_id]}"))
        verdicts = task_reviews(dict(task))
        for annotation in done:
            out += _annotation_checks(plan, task_id, annotation, verdicts, users)
    return tuple(out)
