"""A team annotation campaign on Label Studio Community (design B, docs/campaigns-labelstudio.md): the pure plan.

One shared project. Label Studio's label stream (``/api/projects/{id}/next``) hands each annotator a task they
have not done, not locked by others and not yet at its ``overlap``; the plan says which tasks are in the
campaign and the overlap of each. Slots are annotators x tasks each; T tasks of which a share s go to k
annotators use T(1-s) + Tsk slots. The campaign takes the T open tasks ranked highest by the champion's
active-learning priority (read from its predictions' ``score`` by labeling/priority.py, highest first; unscored
tasks last, by id), and the overlap tasks are spread evenly over that ranking; the stream serves them in that
order (Label Studio's "Uncertainty sampling", overlap tasks first). Gold tasks (images with accepted masks, mixed in
unannounced) go to every annotator, on top of their tasks each. Nothing here calls the server
(labeling/campaign_server.py does); the plan is JSON without secrets (accounts live in their own 0600 file).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from foundation.atomic import write_atomic
from labeling.priority import task_priority

PLAN_FILE = "plan.json"
EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CampaignError(ValueError):
    """A campaign that cannot be planned as asked; the message lists every problem."""


@dataclass(frozen=True)
class CampaignSpec:
    annotators: tuple[str, ...]  # e-mails (lower-cased)
    tasks_each: int
    overlap_share: float = 0.2  # of the campaign's tasks, the share labelled by ``overlap`` annotators
    overlap: int = 2
    gold: int = 0  # gold tasks, each labelled by every annotator

    def __post_init__(self) -> None:
        emails = tuple(e.strip().lower() for e in self.annotators)
        object.__setattr__(self, "annotators", emails)
        problems = [f"{e!r} is not an e-mail" for e in emails if not EMAIL.match(e)]
        doubles = sorted({e for e in emails if emails.count(e) > 1})
        problems += [f"annotator(s) given twice: {', '.join(doubles)}"] if doubles else []
        problems += ["no annotators"] if not emails else []
        problems += [f"tasks each must be at least 1, got {self.tasks_each}"] if self.tasks_each < 1 else []
        if not 0.0 <= self.overlap_share <= 1.0:
            problems.append(f"overlap share must be in [0, 1], got {self.overlap_share}")
        if self.overlap < 2:
            problems.append(f"overlap must be at least 2 annotators, got {self.overlap}")
        elif self.overlap_share > 0 and emails and self.overlap > len(emails):
            problems.append(f"overlap {self.overlap} needs at least {self.overlap} annotators, got {len(emails)}")
        problems += [f"gold must be 0 or more, got {self.gold}"] if self.gold < 0 else []
        if problems:
            raise CampaignError("campaign refused: " + "; ".join(problems))

    @property
    def slots(self) -> int:
        return len(self.annotators) * self.tasks_each

    @property
    def team(self) -> int:
        return len(self.annotators)


@dataclass(frozen=True)
class RankedTask:
    id: int
    score: float | None  # the champion's active-learning priority (higher: label first); None: not pre-annotated


@dataclass(frozen=True)
class CampaignTask:
    id: int
    score: float | None
    overlap: int


@dataclass(frozen=True)
class GoldTask:
    """A gold task's private truth: which dataset version and row its image and mask come from."""

    file: str  # the image's copy, relative to the loop's images folder (the task's ``source``)
    version: str  # dataset-vN
    row_id: str
    mask: str  # the accepted mask, relative to that version's data folder
    task_id: int | None = None  # None until imported


@dataclass(frozen=True)
class CampaignPlan:
    name: str
    project_id: int
    spec: CampaignSpec
    tasks: tuple[CampaignTask, ...]
    gold: tuple[GoldTask, ...] = ()
    held_out: tuple[int, ...] = ()  # open tasks outside the campaign, kept out of the label stream (overlap 0)
    created_at: str = ""
    reviewers: tuple[str, ...] = ()  # accounts that review (no tasks): on the roster with the annotators
    previous_settings: dict | None = None  # the project's settings before the campaign changed them; None: unknown
    closed_at: str = ""  # when `grainloop campaign close` ended it; "" while it runs

    def overlaps(self) -> dict[int, int]:
        """Task id -> overlap for every campaign task, gold (imported ones) at the team's size."""
        gold = {g.task_id: self.spec.team for g in self.gold if g.task_id is not None}
        return {**{t.id: t.overlap for t in self.tasks}, **gold}

    def describe(self) -> str:
        shared = sum(t.overlap > 1 for t in self.tasks)
        asked = sum(t.overlap for t in self.tasks) + len(self.gold) * self.spec.team
        return (f"{len(self.tasks)} task(s), {shared} at overlap {self.spec.overlap}, {len(self.gold)} gold at "
                f"overlap {self.spec.team}: {asked} annotation(s) from {self.spec.team} annotator(s)")

    @property
    def gold_ids(self) -> set[int]:
        return {g.task_id for g in self.gold if g.task_id is not None}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "CampaignPlan":
        spec = CampaignSpec(**{**data["spec"], "annotators": tuple(data["spec"]["annotators"])})
        return cls(data["name"], int(data["project_id"]), spec,
                   tuple(CampaignTask(**t) for t in data.get("tasks") or ()),
                   tuple(GoldTask(**g) for g in data.get("gold") or ()),
                   tuple(int(i) for i in data.get("held_out") or ()), str(data.get("created_at") or ""),
                   tuple(data.get("reviewers") or ()), data.get("previous_settings"), str(data.get("closed_at") or ""))


def rank_tasks(tasks: Iterable[Mapping], model_version: str | None = None) -> list[RankedTask]:
    """Tasks by active-learning priority, highest first; unscored ones after them; ties by task id."""
    ranked = [RankedTask(int(t["id"]), task_priority(t, model_version)) for t in tasks]
    return sorted(ranked, key=lambda r: (r.score is None, -(r.score or 0.0), r.id))


def campaign_size(slots: int, share: float, overlap: int, available: int) -> tuple[int, int]:
    """(tasks, of which overlap tasks): the most tasks whose slots fit with share x tasks (rounded half up) at
    overlap; slots still free then go to more single tasks, so every slot is used while open tasks last."""
    def shared(n: int) -> int:
        return int(share * n + 0.5)

    n = min(available, slots)
    while n > 0 and n + shared(n) * (overlap - 1) > slots:
        n -= 1
    free = slots - n - shared(n) * (overlap - 1)
    return min(available, n + free), shared(n)


def spread(n: int, picks: int) -> list[int]:
    """``picks`` positions out of range(n), evenly spaced (the middle of each equal stretch)."""
    return sorted({min(n - 1, int((i + 0.5) * n / picks)) for i in range(picks)}) if picks else []


def plan_tasks(ranked: list[RankedTask], spec: CampaignSpec) -> tuple[CampaignTask, ...]:
    """The campaign's tasks: the best-ranked that fit the slots, overlap tasks spread evenly over the ranking."""
    n, with_overlap = campaign_size(spec.slots, spec.overlap_share, spec.overlap, len(ranked))
    shared = set(spread(n, with_overlap))
    return tuple(CampaignTask(r.id, r.score, spec.overlap if i in shared else 1) for i, r in enumerate(ranked[:n]))


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise CampaignError(f"campaign name {name!r} refused: letters, digits, '.', '_' and '-' (64 at most)")
    return name


def differences(old: CampaignSpec, new: CampaignSpec) -> list[str]:
    """What a rerun asks differently from the saved campaign (its name, old value -> new value)."""
    a, b = asdict(old), asdict(new)
    return [f"{k}: {a[k]} -> {b[k]}" for k in a if a[k] != b[k]]


def save_plan(folder: Path, plan: CampaignPlan) -> Path:
    return write_atomic(Path(folder) / PLAN_FILE, json.dumps(plan.to_dict(), indent=2, sort_keys=True))


def load_plan(folder: Path) -> CampaignPlan | None:
    path = Path(folder) / PLAN_FILE
    return CampaignPlan.from_dict(json.loads(path.read_text())) if path.is_file() else None


def with_gold_ids(plan: CampaignPlan, ids: Mapping[str, int]) -> CampaignPlan:
    """The plan with the task ids of its gold images (by file) filled in."""
    gold = tuple(replace(g, task_id=ids.get(g.file, g.task_id)) for g in plan.gold)
    return replace(plan, gold=gold)


def load_plans(campaigns: Path) -> list[CampaignPlan]:
    """Every campaign planned under this folder (one folder each), by name."""
    folders = sorted(Path(campaigns).glob("*")) if Path(campaigns).is_dir() else []
    return [plan for folder in folders if (plan := load_plan(folder)) is not None]


def gold_task_ids(campaigns: Path) -> set[int]:
    """Every gold task id of every campaign planned under this folder: their annotations never become rows."""
    return {i for plan in load_plans(campaigns) for i in plan.gold_ids}

