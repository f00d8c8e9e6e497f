"""`grainloop campaign status`: the campaign's figures per annotator (labeling/campaign_status.py), its report in
the campaign's folder (flows/campaign_report.py), logged to MLflow with the latest dataset version.

Where the inputs come from: Label Studio itself, the campaign's tasks read once (all fields), each run through the
pull's own task step (labeling/pulltask.py ``process_task``, with the loop's policy and consensus settings) in
memory. This is simpler and more correct than reading the pull folder: the figures are those of the server now,
not of the last sync; nothing is written to the pull folder or its watermark (a status never races a cycle); the
rejected annotations (which a pull record leaves out of its provenance) and the verdicts in the task metas are
there; and the records are exactly what the next sync will write, since the same function makes them. The same
tasks, with the organisation's users, are checked against the plan (labeling/campaign_checks.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dataset.versioning import latest
from flows.campaign import campaigns_dir, load_campaign
from flows.campaign_gold import score_gold
from flows.campaign_report import write_report
from flows.loop_config import LoopConfig
from flows.registry import log_files
from flows.tracking import KIND_CAMPAIGN, TAG_CAMPAIGN, TAG_DATASET, TAG_KIND, tracked_run
from foundation.pullrecord import PullRecord
from labeling.api import Connection, iter_tasks
from labeling.campaign import CampaignPlan
from labeling.campaign_checks import plan_violations
from labeling.campaign_status import CampaignStatus, campaign_status, submissions
from labeling.consensus import Consensus
from labeling.pullstore import no_mask_reason
from labeling.pulltask import TaskResult, process_task
from labeling.settings import load_settings
from labeling.users import user_emails

REPORT_FOLDER = "campaign"  # the artifact folder of the MLflow run


@dataclass(frozen=True)
class CampaignReport:
    status: CampaignStatus
    files: tuple[Path, ...]  # status.png, status.html, status.json in the campaign's folder
    dataset: str | None  # the latest dataset version, the run's tag
    run_id: str | None  # the MLflow run holding the report


def as_record(result: TaskResult) -> PullRecord:
    """The pull record a task's result becomes (labeling/pullstore.py writes the same fields), without a mask
    file: ``mask`` says only whether the task has one."""
    return PullRecord.from_dict({
        "task_id": result.task_id, "source": result.data.get("source"), "chosen": result.chosen,
        "mask": "in memory" if result.mask is not None else None, "agreement": result.agreement,
        "pairs": result.pairs, "provenance": result.provenance, "quarantine": result.quarantine,
        "reason": None if result.mask is not None else no_mask_reason(result)})


def collect(conn: Connection, cfg: LoopConfig, plan: CampaignPlan) -> CampaignStatus:
    """The campaign's figures from its tasks on the server (see the module's docstring)."""
    ids = {t.id for t in plan.tasks} | plan.gold_ids
    tasks = [t for t in iter_tasks(conn, plan.project_id, page_size=500, all_fields=True) if int(t["id"]) in ids]
    lab = cfg.labeling
    rule = Consensus(lab.min_agreement, lab.require_review)
    records = [as_record(process_task(t, cfg.schema, lab.policy, lab.document_root, rule)) for t in tasks]
    metas = {int(t["id"]): t["meta"] for t in tasks if isinstance(t.get("meta"), dict)}
    return campaign_status(plan, records, submissions(tasks), metas, score_gold(conn, cfg, plan, tasks),
                           plan_violations(plan, tasks, user_emails(conn)))


def campaign_report(cfg: LoopConfig, name: str, log: bool = True) -> CampaignReport:
    """Collect the campaign's status, write its report in the campaign's folder and (``log``) log it to MLflow in a
    run of its own, tagged with the campaign and the latest dataset version."""
    plan = load_campaign(cfg, name)
    with Connection.open(load_settings(cfg.labeling.settings_file)) as conn:
        status = collect(conn, cfg, plan)
    files = write_report(status, campaigns_dir(cfg) / plan.name)
    version = latest(cfg.versions)
    dataset = version.tag if version else None
    run_id = None
    if log:
        tags = {TAG_KIND: KIND_CAMPAIGN, TAG_CAMPAIGN: plan.name, **({TAG_DATASET: dataset} if dataset else {})}
        with tracked_run(cfg.tracking, f"campaign {plan.name} status", tags) as run:
            log_files(files, REPORT_FOLDER)
            run_id = run.info.run_id
    return CampaignReport(status, files, dataset, run_id)
