"""Incremental, exact annotation pull: tasks updated since the stored watermark become class masks.

The watermark is the ``updated_at`` of the last task written (plus the ids of the tasks at exactly that
instant). Pages are read oldest update first, always from the watermark (keyset paging: the tasks at its instant
not written yet, then the tasks updated after it), and the watermark
moves only after a page's masks and records are on disk: a pull killed half-way (or a server that dies under
it) resumes where it stopped on the next run, losing nothing and writing nothing twice. A pull with nothing new
writes nothing. A task pulled again is recomputed from all its current annotations; a deleted annotation moves
the task's updated_at (Label Studio 1.23.2, measured), so the task comes back without it. A task deleted from
the project is found by listing the project's task ids once per pull; its record keeps no mask.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from foundation.schema import LabelSchema
from labeling.api import Connection, filter_item, filters, iter_tasks, task_page, to_server_time
from labeling.consensus import Consensus
from labeling.policy import check_policy
from labeling.projects import ProjectRef
from labeling.pullstore import PullStore
from labeling.pulltask import TaskResult, process_task


@dataclass(frozen=True)
class PullConfig:
    out: Path
    policy: str = "latest"
    document_root: Path | None = None
    page_size: int = 100
    consensus: Consensus = Consensus()  # what several annotators, or one, need before a mask is pulled

    def __post_init__(self) -> None:
        check_policy(self.policy)


@dataclass
class PullReport:
    tasks: int = 0
    masks: int = 0
    quarantined: list[dict] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # task ids waiting for a review
    provenance_rows: int = 0
    watermark: str | None = None


ORDER = ["tasks:updated_at"]


def page_queries(state: dict) -> list[dict]:
    """The queries of the next page, in turn until one returns tasks: first the tasks at exactly the watermark's
    instant not written yet, then the tasks updated after it (among them a task written at the watermark and
    updated since: excluding the written ids from this query lost such an update)."""
    if not state.get("watermark"):
        return [{"ordering": ORDER}]
    at = state["watermark"]
    ties = [filter_item("updated_at", "greater_or_equal", "Datetime", at),
            filter_item("updated_at", "less_or_equal", "Datetime", at)]
    ties += [filter_item("id", "not_equal", "Number", i) for i in state.get("at_watermark", [])]
    newer = filter_item("updated_at", "greater", "Datetime", at)
    return [{"ordering": ORDER, "filters": filters(*ties)}, {"ordering": ORDER, "filters": filters(newer)}]


def next_page(conn: Connection, project_id: int, state: dict, page_size: int) -> list[dict]:
    for query in page_queries(state):
        if tasks := task_page(conn, project_id, query, page_size, all_fields=True)["tasks"]:
            return tasks
    return []


def advance(state: dict, tasks: list[dict]) -> dict:
    """The watermark after writing these tasks (ordered by updated_at)."""
    last = to_server_time(tasks[-1]["updated_at"])
    same = [t["id"] for t in tasks if to_server_time(t["updated_at"]) == last]
    carried = state.get("at_watermark", []) if state.get("watermark") == last else []
    return {**state, "watermark": last, "at_watermark": sorted(set(carried) | set(same))}


def pull(conn: Connection, project: ProjectRef, config: PullConfig,
         on_page: Callable[[int], None] | None = None) -> PullReport:
    """Pull what changed since the last pull into config.out; return what happened."""
    store = PullStore(config.out, project.schema)
    store.check_schema()
    state = store.load_state(project.id)
    report = PullReport(watermark=state.get("watermark"))
    page = 0
    while tasks := next_page(conn, project.id, state, config.page_size):
        _write_page(tasks, store, project.schema, config, report)
        state = {**advance(state, tasks), "reports_stale": True}
        store.save_state(state)
        report.watermark, page = state["watermark"], page + 1
        if on_page:
            on_page(page)
    if gone := deleted_tasks(conn, project.id, store):
        state = {**state, "reports_stale": True}
        store.save_state(state)  # before the records change: a crash in between still rebuilds the reports
        for task_id in gone:
            store.forget(task_id)
    if state.get("reports_stale"):
        report.provenance_rows, _ = store.rebuild_reports()
        store.save_state({**state, "reports_stale": False})
    return report


def deleted_tasks(conn: Connection, project_id: int, store: PullStore) -> list[int]:
    """Tasks pulled before and deleted in Label Studio since (no watermark sees a deletion): one listing of the
    project's task ids per pull. Their records then lose the mask, with the reason (``PullStore.forget``)."""
    known = store.live_task_ids()
    if not known:
        return []
    return sorted(known - {int(t["id"]) for t in iter_tasks(conn, project_id, page_size=1000)})


def _write_page(tasks: list[dict], store: PullStore, schema: LabelSchema, config: PullConfig,
                report: PullReport) -> None:
    for task in tasks:
        result = process_task(task, schema, config.policy, config.document_root, config.consensus)
        try:
            written = store.save(result)
        except OSError:
            raise  # the disk, not the task: the pull stops and the next one resumes here
        except Exception as e:  # the task's data (a source leaving the folder, a malformed tile): quarantined
            result = refused(result, e)
            written = store.save(result)
        report.masks += written is not None
        report.quarantined.extend(result.quarantine)
        report.held += [result.task_id] if result.held else []
        report.tasks += 1


def refused(result: TaskResult, error: Exception) -> TaskResult:
    """The task as a record only, with the reason: nothing of its data is used as a path any more."""
    out = TaskResult(result.task_id, result.data, cancelled=result.cancelled)
    out.bad(None, f"task data refused ({type(error).__name__}: {error})")
    out.data = {}
    return out

