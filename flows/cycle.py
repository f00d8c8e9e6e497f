"""The active-learning cycle: sync -> version -> train -> evaluate and promote -> preannotate.

Each step skips what has nothing new to do and is safe to run again, so a cycle that failed part-way is rerun
from the top and picks up where it stopped: a dataset version is made once (DVC hash), a dataset tag is trained
once (a registered version tagged with it), a version is judged once, and pre-annotations replace their own
model_version. Only one cycle runs at a time (a lock file in the workspace); a second waits or says so.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from prefect import flow

from dataset.commit import CommitResult, commit_version
from flows.cycle_record import CycleRecord, StepClock, failure, outcome, utc_now, write_record
from flows.evaluation import EvalTarget
from flows.loop_config import LoopConfig, load_loop_config, save_loop_config
from flows.preannotate import PreannotateReport, champion, preannotate
from flows.promotion import Decision, promote
from flows.sync import SyncReport, sync_annotations
from flows.train import dataset_folder, train
from flows.tracking import TAG_PROMOTION, client as make_client
from dataset.versioning import Version, latest
from foundation.atomic import write_atomic


class CycleBusy(RuntimeError):
    """Another cycle holds the workspace's lock."""


@dataclass(frozen=True)
class CycleReport:
    sync: SyncReport
    dataset: Optional[str]
    new_version: bool
    trained: Optional[str]
    decision: Optional[Decision]
    champion: Optional[str]
    preannotate: PreannotateReport
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each flow, in cycle order


@contextmanager
def cycle_lock(cfg: LoopConfig, wait: bool = False) -> Iterator[None]:
    path = cfg.state_dir / "cycle.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            raise CycleBusy(f"another cycle is running in {cfg.workspace} (pid {f.read().strip() or '?'}); "
                            "wait for it to finish, or run with --wait") from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        yield


CYCLE_FILE = "cycle.json"  # in the state folder: the configuration a cycle flow run was given by path


def _pending_file(cfg: LoopConfig) -> Path:
    return cfg.state_dir / "pending-annotations"


def read_pending(cfg: LoopConfig) -> int:
    """The pending count on disk (0 when absent). An unreadable count (empty or garbled) is taken as the threshold:
    the version step runs, which makes no version when nothing changed, so no annotation waits forever."""
    path = _pending_file(cfg)
    try:
        count = int(path.read_text()) if path.exists() else 0
        if count < 0:
            raise ValueError(count)
    except (ValueError, OSError, UnicodeDecodeError):
        return cfg.min_new_annotations
    return count


def add_pending(cfg: LoopConfig, n: int) -> int:
    """Images added or changed in data/ since the last dataset version (kept on disk across cycles, written
    atomically: a crash leaves the old count)."""
    total = read_pending(cfg) + n
    write_atomic(_pending_file(cfg), str(total))
    return total


def version_dataset(cfg: LoopConfig) -> CommitResult:
    """dataset-vN from data/ (nothing new: no version); the pending count starts again from zero."""
    result = commit_version(cfg.versions)
    _pending_file(cfg).unlink(missing_ok=True)
    return result


def evaluate_and_promote(cfg: LoopConfig, model_version: str, version: Version) -> Optional[Decision]:
    """Judge the challenger against the champion on the version's test split (once per model version)."""
    mv = make_client(cfg.tracking).get_model_version(cfg.tracking.model_name, model_version)
    if mv.tags.get(TAG_PROMOTION):  # judged and carried out (a champion without it: a promotion that died part-way)
        return None
    return promote(cfg.tracking, model_version, cfg.rule, EvalTarget(dataset_folder(cfg, version), version.tag))


@flow(name="cycle")
def cycle_flow(config: str, wait: bool = False) -> CycleReport:
    """One turn of the loop saved at ``config``. Prefect stores and shows a flow's parameters, so they are a path
    and a flag, never the store URI or a token; the steps are plain functions inside this one flow run, each timed."""
    return run_cycle(load_loop_config(Path(config)), wait)


def cycle(config: "LoopConfig | str | Path", wait: bool = False) -> CycleReport:
    """One cycle as a Prefect flow run (``cycle_flow``) of the configuration saved at ``config``; a LoopConfig is
    saved first (``.grainloop/cycle.json``) and must come back equal from the file (its store is the one every
    entry point finds: MLFLOW_TRACKING_URI, else the workspace's), so the run is the one asked for."""
    if isinstance(config, LoopConfig):
        path = save_loop_config(config, config.state_dir / CYCLE_FILE)
        if load_loop_config(path) != config:
            raise ValueError(f"this loop configuration does not round-trip through {path} (a tracking store other "
                             "than MLFLOW_TRACKING_URI or the workspace's?): save it and run the saved file")
        config = path
    return cycle_flow(str(Path(config).resolve()), wait)


def run_cycle(cfg: LoopConfig, wait: bool = False) -> CycleReport:
    """One turn of the loop; each step skips when it has nothing new to do. Its record (what it did, or the step
    that failed and why) goes to the state folder's last-cycle.json (flows/cycle_record.py)."""
    clock = StepClock()
    with cycle_lock(cfg, wait):
        try:
            report, pending = _steps(cfg, clock)
        except BaseException as exc:
            write_record(cfg.state_dir, failure(clock.failed_step, exc, clock.seconds))
            raise
        write_record(cfg.state_dir, _record(cfg, report, pending))
        return report


def _steps(cfg: LoopConfig, clock: StepClock) -> tuple[CycleReport, int]:
    synced = clock.run("sync_annotations", sync_annotations, cfg)
    pending = add_pending(cfg, synced.added + synced.updated + len(synced.dropped))
    committed = clock.run("version_dataset", version_dataset, cfg) if pending >= cfg.min_new_annotations else None
    newest = latest(cfg.versions)
    trained = clock.run("train", train, cfg, newest) if newest else None
    decision = clock.run("evaluate_and_promote", evaluate_and_promote, cfg, trained, newest) if trained else None
    pre = clock.run("preannotate", preannotate, cfg)
    report = CycleReport(synced, newest.tag if newest else None, bool(committed and committed.version), trained,
                         decision, champion(cfg), pre, clock.seconds)
    return report, pending


def _record(cfg: LoopConfig, r: CycleReport, pending: int) -> CycleRecord:
    promoted = None if r.decision is None else r.decision.promote
    return CycleRecord(utc_now(), outcome(promoted, r.trained, r.new_version, pending, cfg.min_new_annotations),
                       r.dataset, r.trained, r.champion, r.sync.added + r.sync.updated, len(r.sync.quarantined),
                       r.preannotate.tasks, r.sync.edit_cost, r.sync.edited, seconds=dict(r.seconds))
