"""A campaign's gold tasks: images whose masks the loop accepted, from its latest dataset version, mixed into the
project unannounced.

Each chosen image is copied into the loop's images folder under a neutral name (``<campaign>/<random hex>.<ext>``)
and imported the way every image is (labeling/importer.py: same task data, same viewable previews), so nothing in
the task says gold. Which version, row and mask each gold task stands for is written only to the campaign's
plan.json, never to Label Studio. Images that would be cut into tiles are not chosen (a gold task is one task).
Gold tasks never become dataset rows (flows/sync.py leaves them out); ``score_gold`` scores each submitted
annotation of one against its accepted mask (per-class IoU), for the campaign report (a later step).
"""
from __future__ import annotations

import secrets
from pathlib import Path

from dataset.manifest import ManifestRow, read_manifest
from dataset.versioning import Version, latest, versions
from flows.loop_config import LoopConfig
from flows.train import version_folder
from foundation.atomic import copy_atomic
from foundation.semimage import image_size
from labeling.api import Connection, iter_tasks
from labeling.campaign import CampaignError, CampaignPlan, GoldTask, with_gold_ids
from labeling.campaign_server import GoldScore, gold_scores
from labeling.importer import ImportConfig, import_folder
from labeling.projects import ProjectRef
from labeling.push import tasks_by_source
from ml.io import read_mask

NAME_BYTES = 5  # a gold file's random name: 10 hex characters


def version_rows(cfg: LoopConfig, tag: str | None = None) -> tuple[Version, Path, list[ManifestRow]]:
    """A dataset version (the latest when ``tag`` is None), its data folder and its rows."""
    version = latest(cfg.versions) if tag is None else next((v for v in versions(cfg.versions) if v.tag == tag), None)
    if version is None:
        raise CampaignError(f"gold tasks need a dataset version{f' {tag}' if tag else ''}, and the loop has none "
                            "(run `grainloop cycle` once annotations are in), or plan with --gold 0")
    folder = version_folder(cfg, version)
    return version, folder, read_manifest(folder)


def choose_gold(cfg: LoopConfig, count: int, campaign: str) -> tuple[GoldTask, ...]:
    """``count`` rows of the latest version with a mask, one task each; by sha256, so by no name or order."""
    if count == 0:
        return ()
    version, folder, rows = version_rows(cfg)
    side = cfg.labeling.tiling.max_side
    fits = [r for r in rows if r.mask and max(image_size(folder / r.image)) <= side]
    if len(fits) < count:
        raise CampaignError(f"{count} gold task(s) asked, but {version.tag} has {len(fits)} image(s) with an "
                            f"accepted mask that fit one task (at most {side} px a side)")
    chosen = sorted(fits, key=lambda r: (r.sha256, r.id))[:count]
    return tuple(GoldTask(f"{campaign}/{secrets.token_hex(NAME_BYTES)}{Path(r.image).suffix.lower()}",
                          version.tag, r.id, r.mask) for r in chosen)


def stage_gold(cfg: LoopConfig, gold: tuple[GoldTask, ...]) -> list[str]:
    """Copy each gold image (from its version) to its neutral name in the images folder; returns the files."""
    sources: dict[str, tuple[Path, dict[str, ManifestRow]]] = {}
    for g in gold:
        if g.version not in sources:
            _, folder, rows = version_rows(cfg, g.version)
            sources[g.version] = (folder, {r.id: r for r in rows})
        folder, rows = sources[g.version]
        target = cfg.labeling.images / g.file
        if not target.exists():
            copy_atomic(folder / rows[g.row_id].image, target)
    return [g.file for g in gold]


def import_gold(conn: Connection, project: ProjectRef, cfg: LoopConfig, plan: CampaignPlan) -> CampaignPlan:
    """The plan with every gold image a task of the project: a task already made for its file (a rerun, or a
    run that stopped before recording the id) is found by its source, so none is imported twice."""
    pending = [g for g in plan.gold if g.task_id is None]
    if not pending:
        return plan
    files = stage_gold(cfg, tuple(pending))
    found = _ids(conn, project.id, files)
    missing = [f for f in files if f not in found]
    if missing:
        config = ImportConfig(cfg.labeling.images, cfg.labeling.document_root, tiling=cfg.labeling.tiling)
        import_folder(conn, project, config, paths=missing, skip_existing=False)
        found = _ids(conn, project.id, files)
    if lost := [f for f in files if f not in found]:
        raise CampaignError(f"gold image(s) {', '.join(lost)} did not become tasks; see Label Studio's log")
    return with_gold_ids(plan, found)


def _ids(conn: Connection, project_id: int, files: list[str]) -> dict[str, int]:
    wanted = set(files)
    return {s: int(tasks[0]["id"]) for s, tasks in tasks_by_source(conn, project_id).items() if s in wanted}


def gold_truth(cfg: LoopConfig, plan: CampaignPlan) -> dict[int, Path]:
    """Gold task id -> its accepted mask (a class map, in its dataset version's checked-out folder)."""
    folders = {v: version_rows(cfg, v)[1] for v in {g.version for g in plan.gold}}
    return {g.task_id: folders[g.version] / g.mask for g in plan.gold if g.task_id is not None}


def score_gold(conn: Connection, cfg: LoopConfig, plan: CampaignPlan, tasks: list[dict] | None = None
               ) -> list[GoldScore]:
    """Every submitted annotation of the campaign's gold tasks, scored against the accepted mask (per-class IoU):
    what the campaign report shows per annotator. ``tasks``: the project's tasks already read (all fields)."""
    truth = gold_truth(cfg, plan)
    if tasks is None:
        tasks = list(iter_tasks(conn, plan.project_id, page_size=500, all_fields=True))
    return [s for t in sorted((t for t in tasks if int(t["id"]) in truth), key=lambda t: t["id"])
            for s in gold_scores(t, read_mask(truth[int(t["id"])]), cfg.schema)]
