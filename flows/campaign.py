"""`grainloop campaign plan`: a team annotation campaign over the loop's own Label Studio project (design B of
docs/campaigns-labelstudio.md: one shared project, per-task ``overlap``, annotators take tasks from the label
stream).

Planning composes the layers: the annotators' accounts (labeling/accounts.py, a 0600 file in the campaign
folder), the open tasks ranked by the champion's score (labeling/campaign.py), gold tasks from the latest dataset
version (flows/campaign_gold.py) and the settings that make Label Studio's stream follow the plan
(labeling/campaign_server.py). The plan is written to ``<state>/campaigns/<name>/plan.json`` before anything on the
server changes, so planning again with the same request resumes it: the same tasks, gold tasks imported once,
accounts made once; a different request under the same name is refused with what differs. The project's settings
before the first plan are recorded in the plan (those of the first still open campaign on the project, when one
is), so closing the campaign restores them; a closed campaign is not planned again.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from flows.campaign_gold import choose_gold, import_gold
from flows.cycle_record import utc_now
from flows.loop_config import LoopConfig
from foundation.pullrecord import PullRecord
from labeling.accounts import ACCOUNTS_FILE, ensure_accounts, read_accounts
from labeling.api import Connection
from labeling.campaign import (EMAIL, PLAN_FILE, CampaignError, CampaignPlan, CampaignSpec, check_name, differences,
                               gold_task_ids, load_plan, load_plans, plan_tasks, rank_tasks, save_plan)
from labeling.campaign_server import (RELEASED, Closing, apply_overlaps, closing, configure_project, open_tasks,
                                      project_model_version, project_settings)
from labeling.projects import ProjectRef, ProjectSpec, ensure_project
from labeling.review import Verdict, review
from labeling.settings import load_settings

CAMPAIGNS = "campaigns"  # under the loop's state folder: one folder per campaign
DEFAULT_NAME = "campaign"


@dataclass(frozen=True)
class CampaignOutcome:
    plan: CampaignPlan
    plan_file: Path
    accounts_file: Path  # owner-only: e-mails, passwords and tokens (never printed)
    resumed: bool  # a plan under this name existed: it was applied again, not made anew


def campaigns_dir(cfg: LoopConfig) -> Path:
    return cfg.state_dir / CAMPAIGNS


def campaign_gold_ids(cfg: LoopConfig) -> set[int]:
    """The gold task ids of every campaign of this loop: the sync keeps their annotations out of the dataset."""
    return gold_task_ids(campaigns_dir(cfg))


def without_gold(cfg: LoopConfig, records: list[PullRecord]) -> list[PullRecord]:
    """Pulled records less those of campaign gold tasks: their annotations are scored, never dataset rows (nor
    withdrawals: a gold image's copy must not drop the row it came from)."""
    gold = campaign_gold_ids(cfg)
    return [r for r in records if not gold.intersection(r.task_ids or (r.task_id,))] if gold else list(records)


def new_plan(conn: Connection, project: ProjectRef, cfg: LoopConfig, spec: CampaignSpec, name: str) -> CampaignPlan:
    """The open tasks ranked by the champion's score (the project's model_version), planned; gold chosen."""
    ranked = rank_tasks(open_tasks(conn, project.id, exclude=campaign_gold_ids(cfg)),
                        project_model_version(conn, project.id))
    tasks = plan_tasks(ranked, spec)
    if not tasks and not spec.gold:
        raise CampaignError(f"project {project.title!r} has no open task to plan a campaign on")
    running = [p for p in load_plans(campaigns_dir(cfg)) if p.project_id == project.id and not p.closed_at]
    before = next((p.previous_settings for p in running if p.previous_settings), None)
    return CampaignPlan(name, project.id, spec, tasks, choose_gold(cfg, spec.gold, name), created_at=utc_now(),
                        previous_settings=before or project_settings(conn, project.id))


def plan_campaign(cfg: LoopConfig, spec: CampaignSpec, name: str = DEFAULT_NAME,
                  reviewers: tuple[str, ...] = ()) -> CampaignOutcome:
    """Plan the campaign (or resume the one planned under ``name``) and apply it on the loop's project.
    ``reviewers`` get accounts (in the same accounts file) but no tasks: they review through their own token."""
    folder = campaigns_dir(cfg) / check_name(name)
    extra = tuple(dict.fromkeys(e.strip().lower() for e in reviewers if e.strip().lower() not in spec.annotators))
    if bad := [e for e in extra if not EMAIL.match(e)]:
        raise CampaignError(f"campaign refused: reviewer(s) {', '.join(map(repr, bad))} not an e-mail")
    saved = load_plan(folder)
    if saved is not None and saved.closed_at:
        raise CampaignError(f"campaign {name!r} was closed at {saved.closed_at}: plan a new one with --name "
                            f"(`grainloop campaign status --name {name}` still shows it)")
    if saved is not None and saved.spec != spec:
        raise CampaignError(f"campaign {name!r} was planned otherwise ({'; '.join(differences(saved.spec, spec))}): "
                            "plan it again as it was, or plan another with --name")
    folder.mkdir(parents=True, exist_ok=True)
    with Connection.open(load_settings(cfg.labeling.settings_file)) as conn:
        project = ensure_project(conn.sdk, ProjectSpec(cfg.labeling.project_title, cfg.schema))
        if saved is not None and saved.project_id != project.id:
            raise CampaignError(f"campaign {name!r} was planned on project {saved.project_id}; the loop's project "
                                f"is now {project.id}: plan another with --name")
        plan = saved or new_plan(conn, project, cfg, spec, name)  # reads only: a refused plan changes nothing
        plan = replace(plan, reviewers=tuple(dict.fromkeys(plan.reviewers + extra)))
        save_plan(folder, plan)  # before the server changes: a rerun resumes exactly this plan
        ensure_accounts(conn, spec.annotators + extra, folder / ACCOUNTS_FILE)
        plan = import_gold(conn, project, cfg, plan)
        save_plan(folder, plan)
        configure_project(conn, project.id)  # first: setting maximum_annotations rewrites every task's overlap
        held = apply_overlaps(conn, project.id, plan.overlaps())
        plan = replace(plan, held_out=tuple(sorted(set(plan.held_out) | set(held))))
        save_plan(folder, plan)
    return CampaignOutcome(plan, folder / PLAN_FILE, folder / ACCOUNTS_FILE, saved is not None)


def reviewer_connection(cfg: LoopConfig, name: str = DEFAULT_NAME, as_email: str | None = None) -> Connection:
    """The admin's connection (the loop's settings), or a campaign account's, with its token from the campaign's
    accounts file."""
    if as_email is None:
        return Connection.open(load_settings(cfg.labeling.settings_file))
    accounts = read_accounts(campaigns_dir(cfg) / check_name(name) / ACCOUNTS_FILE)
    account = accounts.get(as_email.strip().lower())
    if account is None or not account.token:
        raise CampaignError(f"no API token for {as_email!r} in campaign {name!r}'s accounts file (an account is "
                            "made by `grainloop campaign plan --reviewer`; one that existed before has none)")
    return Connection.open(replace(load_settings(cfg.labeling.settings_file), token=account.token))


def review_annotation(cfg: LoopConfig, annotation_id: int, accept: bool, comment: str = "",
                      name: str = DEFAULT_NAME, as_email: str | None = None) -> Verdict:
    """A reviewer's verdict on an annotation (labeling/review.py), given with the reviewer's own token."""
    with reviewer_connection(cfg, name, as_email) as conn:
        who = as_email or str(conn.request("GET", "/api/current-user/whoami").get("email") or "")
        return review(conn, annotation_id, accept, comment, who.strip().lower())


def load_campaign(cfg: LoopConfig, name: str) -> CampaignPlan:
    plan = load_plan(campaigns_dir(cfg) / check_name(name))
    if plan is None:
        raise CampaignError(f"no campaign {name!r} in this loop (plan one with `grainloop campaign plan`)")
    return plan


def close_campaign(cfg: LoopConfig, name: str = DEFAULT_NAME) -> tuple[CampaignPlan, Closing]:
    """End a campaign: recorded closed in its plan first (so a crash is finished by running it again), then the
    project's previous settings restored and its held-out tasks given overlap RELEASED back, as far as no other
    open campaign on the project needs them (labeling/campaign_server.py ``closing``). Rerun-safe: only what
    differs is changed, and the first closing time is kept."""
    plan = load_campaign(cfg, name)
    plan = replace(plan, closed_at=plan.closed_at or utc_now())
    save_plan(campaigns_dir(cfg) / plan.name, plan)
    change = closing(plan, load_plans(campaigns_dir(cfg)))
    with Connection.open(load_settings(cfg.labeling.settings_file)) as conn:
        if change.settings is not None:  # first: changing maximum_annotations rewrites task overlaps
            configure_project(conn, plan.project_id, change.settings)
        apply_overlaps(conn, plan.project_id, {i: RELEASED for i in change.released}, hold_out=False)
    return plan, change
