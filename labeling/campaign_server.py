"""A campaign's plan applied on Label Studio Community 1.23.2 (design B, docs/campaigns-labelstudio.md).

The project gets ``maximum_annotations`` 1, ``show_overlap_first`` and "Uncertainty sampling"; each campaign
task gets its planned ``overlap`` (gold: the team's size). Order matters: changing ``maximum_annotations`` to 1
rewrites every task's overlap to 1 (``projects/models.py`` ``_update_tasks_states``), so the project is set first
and the tasks after.

Tasks outside the campaign: every open one gets overlap 0. With ``show_overlap_first`` on, the label stream
(``/next``, the UI's "Label All Tasks") serves the tasks with overlap above 1 while any is left for the
annotator, then only tasks with overlap exactly 1 (``projects/functions/next_task.py`` ``_try_tasks_with_overlap``
with its flag ``fflag_fix_back_lsdv_4523...`` off, as in 1.23.2), so a task at overlap 0 is never served. Any
recount of ``is_labeled`` marks such a task labelled (0 annotations >= overlap 0), which keeps it out too; a task
opened from the Data Manager's list can still be annotated (Community guards no write). The ids held out are
recorded in the plan, so closing the campaign can give them overlap 1 back. A task imported while the campaign
runs gets overlap 1 and joins the stream after the campaign's shared tasks; planning again holds it out.

Order: the overlap filter comes first and the sampling picks inside it (``_try_uncertainty_sampling``): the
tasks holding a prediction of the project's model_version by its score, lowest first, which labeling/priority.py
makes the highest active-learning priority first; tasks without one (gold, until pre-annotated) after them, at
random. Community has no project members (``project.annotators()`` is empty), so the pick is the first unlocked
task, never the random one Label Studio keeps for projects with several members.

Closing (``closing``): the held-out tasks no other open campaign on the project holds get overlap 1 back, and the
project's settings are restored to what they were before the campaign (Label Studio's defaults for a plan that
did not record them) once no other open campaign needs them; the settings first, for the same reason as above.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from foundation.schema import LabelSchema
from labeling.api import Connection, iter_tasks
from labeling.campaign import CampaignPlan
from labeling.masks import BadRegion
from labeling.policy import iou
from labeling.priority import SAMPLING
from labeling.pulltask import annotator, decode

HELD_OUT = 0  # the overlap of an open task outside the campaign: the label stream never serves it
RELEASED = 1  # the overlap a held-out task gets back when its campaign closes
CAMPAIGN_SETTINGS = {"maximum_annotations": 1, "show_overlap_first": True, "sampling": SAMPLING}
DEFAULT_SETTINGS = {"maximum_annotations": 1, "show_overlap_first": False,
                    "sampling": "Sequential sampling"}  # Label Studio 1.23.2's own


def is_open(task: Mapping) -> bool:
    """No annotation and no skip yet."""
    return not task.get("total_annotations") and not task.get("cancelled_annotations")


def open_tasks(conn: Connection, project_id: int, exclude: Iterable[int] = ()) -> list[dict]:
    """The project's open tasks with their predictions (for the champion's score), less ``exclude``."""
    skip = set(exclude)
    return [t for t in iter_tasks(conn, project_id, page_size=500, all_fields=True)
            if is_open(t) and int(t["id"]) not in skip]


def project_model_version(conn: Connection, project_id: int) -> str | None:
    """The model_version whose predictions annotators see: the champion's, once the loop pushed one."""
    return conn.request("GET", f"/api/projects/{project_id}/").get("model_version") or None


def project_settings(conn: Connection, project_id: int) -> dict:
    """The project's current values of the settings a campaign changes."""
    current = conn.request("GET", f"/api/projects/{project_id}/")
    return {k: current.get(k, DEFAULT_SETTINGS[k]) for k in CAMPAIGN_SETTINGS}


def configure_project(conn: Connection, project_id: int, settings: Mapping = CAMPAIGN_SETTINGS) -> bool:
    """The project at ``settings`` (by default ``maximum_annotations`` 1, ``show_overlap_first`` on and the
    stream ordered by score), changed only where they differ; True if changed."""
    changes = {k: v for k, v in settings.items() if project_settings(conn, project_id).get(k) != v}
    if changes:
        conn.request("PATCH", f"/api/projects/{project_id}/", json=changes)
    return bool(changes)


@dataclass(frozen=True)
class Closing:
    released: tuple[int, ...]  # held-out tasks that get overlap RELEASED back
    settings: dict | None  # the project's settings to restore; None: another open campaign still needs its own


def closing(plan: CampaignPlan, plans: Iterable[CampaignPlan]) -> Closing:
    """What closing ``plan`` changes, given every campaign of the loop: its held-out tasks that no other open
    campaign on the same project holds (as a task, gold or held out), and its previous settings (Label Studio's
    defaults if it did not record them) unless another campaign on the project is still open."""
    others = [p for p in plans if p.name != plan.name and p.project_id == plan.project_id and not p.closed_at]
    held = {i for p in others for i in (*p.overlaps(), *p.held_out)}
    settings = {**DEFAULT_SETTINGS, **(plan.previous_settings or {})}
    return Closing(tuple(i for i in plan.held_out if i not in held), None if others else settings)


def apply_overlaps(conn: Connection, project_id: int, overlaps: Mapping[int, int], hold_out: bool = True) -> list[int]:
    """Each task of ``overlaps`` at its overlap and (``hold_out``) every open task outside them at HELD_OUT (only
    tasks whose overlap differs are changed, so a rerun changes nothing); returns the ids held out."""
    held: list[int] = []
    for task in iter_tasks(conn, project_id, page_size=1000):
        task_id = int(task["id"])
        wanted = overlaps.get(task_id, HELD_OUT if hold_out and is_open(task) else None)
        if wanted is None:
            continue
        held += [task_id] if task_id not in overlaps else []
        if task.get("overlap") != wanted:  # an absent field (another server version) is set too
            conn.request("PATCH", f"/api/tasks/{task_id}/", json={"overlap": wanted})
    return sorted(held)



@dataclass(frozen=True)
class GoldScore:
    """One submitted annotation of a gold task against the accepted mask."""

    task_id: int
    annotation_id: int
    annotator: str
    iou: dict[str, float | None]  # per class; None: the class is in neither mask; {} when it does not decode


def gold_scores(task: Mapping, truth: np.ndarray, schema: LabelSchema) -> list[GoldScore]:
    """Per-class IoU of each submitted (not skipped) annotation of a gold task with its accepted mask."""
    out = []
    for a in task.get("annotations") or []:
        if a.get("was_cancelled"):
            continue
        try:
            mask = decode(a, schema, truth.shape)
            scores = {name: iou(mask == k, truth == k) for k, name in enumerate(schema.class_names) if k}
        except BadRegion:
            scores = {}
        out.append(GoldScore(int(task["id"]), int(a["id"]), annotator(a), scores))
    return out
