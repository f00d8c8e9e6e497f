"""`grainloop status`: the loop at a glance, gathered from every service it uses.

``collect(cfg)`` reads Label Studio (tasks by state, the champion's pre-annotations, annotators), the pull's
quarantine, the dataset versions (git tags and data.dvc), the champion in MLflow, the last cycle's record and the
next scheduled run on a Prefect server. Each source is read on its own: one that cannot be read (a server down, no
model yet) gives its section an ``unavailable`` reason and the others are still shown. Nothing is written.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from statistics import median
from typing import Optional

import yaml

from dataset.commit import version_summary
from dataset.scales import AWAITING
from dataset.versioning import Version, VersionConfig, git, versions
from flows.cycle_record import CycleRecord, error_text, read_history, read_record, utc_now
from flows.loop_config import LoopConfig
from flows.status_types import (AnnotatorStats, ChampionStatus, CycleStatus, DatasetStatus, DatasetVersionInfo,
                                LabelingStatus, LoopStatus, QuarantineStatus, ScaleStatus)
from flows.scale import scale_record
from flows.status_remote import champion_status, guarded, probe, schedule_status
from flows.tracking import prediction_version
from labeling.api import Connection, filter_item, filters, iter_tasks
from labeling.projects import find_project
from labeling.pullstore import QUARANTINE, read_quarantine, read_records
from labeling.consensus import HELD
from labeling.pulltask import annotator
from labeling.push import tasks_with_version
from labeling.settings import load_settings


def collect(cfg: LoopConfig) -> LoopStatus:
    """The loop's status, each source read independently."""
    name = cfg.tracking.model_name
    champ = guarded(lambda: champion_status(cfg), lambda why: ChampionStatus(name, unavailable=f"MLflow: {why}"))
    model_version = prediction_version(name, champ.version) if champ.version else None
    title = cfg.labeling.project_title
    return LoopStatus(
        utc_now(), str(cfg.workspace),
        guarded(lambda: labeling_status(cfg, model_version), lambda why: LabelingStatus(title, unavailable=why)),
        guarded(lambda: quarantine_status(cfg.pull_dir),
                lambda why: QuarantineStatus(str(cfg.pull_dir / QUARANTINE), unavailable=why)),
        guarded(lambda: dataset_status(cfg.versions, champ.test_iou_by_dataset),
                lambda why: DatasetStatus(unavailable=why)),
        champ,
        guarded(lambda: last_cycle(cfg.state_dir), lambda why: CycleStatus(unavailable=why)),
        schedule_status(cfg),
        guarded(lambda: scale_status(cfg), lambda why: ScaleStatus(unavailable=why)))


# ---- Label Studio --------------------------------------------------------------------------------------------


def labeling_status(cfg: LoopConfig, model_version: Optional[str]) -> LabelingStatus:
    settings, title = load_settings(cfg.labeling.settings_file), cfg.labeling.project_title
    try:
        probe(f"{settings.url}/health")
        with Connection.open(settings, timeout=60.0) as conn:
            return _labeling(conn, title, model_version)
    except Exception as exc:
        why = f"Label Studio at {settings.url}: {error_text(exc)}"
        return LabelingStatus(title, settings.url, unavailable=why)


def _labeling(conn: Connection, title: str, model_version: Optional[str]) -> LabelingStatus:
    url = conn.settings.url
    project = find_project(conn.sdk, title)
    if project is None:
        return LabelingStatus(title, url, unavailable=f"no project titled {title!r} on {url}")
    tasks = list(iter_tasks(conn, project.id, page_size=1000))
    drafts = {"filters": filters(filter_item("draft_exists", "equal", "Boolean", True))}
    drafted = {t["id"] for t in iter_tasks(conn, project.id, drafts, page_size=1000)}
    annotated = [t for t in tasks if t.get("total_annotations")]
    skipped = [t for t in tasks if not t.get("total_annotations") and t.get("cancelled_annotations")]
    in_progress = [t for t in tasks if t["id"] in drafted and not t.get("total_annotations")
                   and not t.get("cancelled_annotations")]
    champion_tasks = tasks_with_version(conn, project.id, model_version) if model_version else set()
    open_with_champion = [t for t in tasks if t["id"] in champion_tasks and not t.get("total_annotations")]
    done = {"filters": filters(filter_item("total_annotations", "greater", "Number", 0))}
    annotations = [a for t in iter_tasks(conn, project.id, done, page_size=100, all_fields=True)
                   for a in t.get("annotations") or []]
    return LabelingStatus(title, url, len(tasks), len(annotated), len(in_progress), len(skipped),
                          len(open_with_champion), model_version, annotator_stats(annotations))


def annotator_stats(annotations: list[dict]) -> tuple[AnnotatorStats, ...]:
    """Per annotator (most submissions first): submitted annotations and their median lead time."""
    times: dict[str, list[Optional[float]]] = {}
    for a in annotations:
        if not a.get("was_cancelled"):
            times.setdefault(annotator(a), []).append(a.get("lead_time"))
    stats = []
    for name, values in times.items():
        known = [float(v) for v in values if isinstance(v, (int, float))]
        stats.append(AnnotatorStats(name, len(values), round(median(known), 1) if known else None))
    return tuple(sorted(stats, key=lambda s: (-s.submitted, s.name)))


# ---- local state: the pull's quarantine, dataset versions, the last cycle -------------------------------------


def quarantine_status(pull_dir: Path) -> QuarantineStatus:
    """The pull's standing refusals, and the tasks held for a review."""
    path = pull_dir / QUARANTINE
    held = tuple((r.task_id, r.source or "", r.reason) for r in read_records(pull_dir)
                 if (r.reason or "").startswith(HELD))
    return QuarantineStatus(str(path), read_quarantine(path), held)


def dataset_status(cfg: VersionConfig, test_iou: dict[str, float]) -> DatasetStatus:
    if not (cfg.root / ".git").exists():
        return DatasetStatus(unavailable=f"no workspace repository at {cfg.root}")
    return DatasetStatus(tuple(version_info(cfg, v, test_iou.get(v.tag)) for v in versions(cfg)))


def version_info(cfg: VersionConfig, v: Version, champion_iou: Optional[float] = None) -> DatasetVersionInfo:
    """Image counts from the version's tag message (written by dataset.commit), size from its data.dvc."""
    summary = version_summary(cfg, v.tag)
    dvc = yaml.safe_load(git(cfg, "show", f"{v.tag}:{cfg.dvc_file.name}", check=False) or "{}") or {}
    size = ((dvc.get("outs") or [{}])[0]).get("size")
    return DatasetVersionInfo(v.tag, v.commit, summary.get("images"), dict(summary.get("splits") or {}), size,
                              champion_iou)


def last_cycle(state_dir: Path) -> CycleStatus:
    record: Optional[CycleRecord] = read_record(state_dir)
    if record is None:
        return CycleStatus(unavailable="no cycle recorded yet (`grainloop cycle` records one)")
    return CycleStatus(record, history=tuple(read_history(state_dir)))


def scale_status(cfg: LoopConfig) -> ScaleStatus:
    """The scale-bar record's readings by state, and those awaiting confirmation."""
    threshold, entries = cfg.samples.scale_bar_confidence, scale_record(cfg).entries.values()
    states = Counter(e.state(threshold) for e in entries)
    awaiting = tuple((e.image, e.reading.label, e.reading.pixel_size_um, round(e.reading.confidence, 3))
                     for e in entries if e.state(threshold) == AWAITING)
    return ScaleStatus(dict(sorted(states.items())), tuple(sorted(awaiting)))
