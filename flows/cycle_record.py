"""The last cycle's record: what it did (or which step failed and why), when it finished, how long each step
took and how much of the model's pre-annotations the annotators changed (edit cost), written atomically to
``<state_dir>/last-cycle.json`` at the end of every cycle and added to ``cycles.json``, for `grainloop status`."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, TypeVar

from foundation.atomic import write_atomic

RECORD_FILE = "last-cycle.json"
HISTORY_FILE = "cycles.json"  # every finished cycle's record, oldest first (the last HISTORY_KEPT)
HISTORY_KEPT = 500
OUTSIDE_STEPS = "cycle"  # the step named when the glue between the timed steps fails
T = TypeVar("T")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class CycleRecord:
    finished_at: str  # UTC, ISO 8601
    outcome: str  # "promoted v3", "refused v3", "nothing new", "failed in train: ..."
    dataset: Optional[str] = None  # the newest dataset version the cycle saw
    trained: Optional[str] = None  # the registered model version trained on it
    champion: Optional[str] = None  # the champion after the cycle
    synced: int = 0  # annotations added or updated in data/
    quarantined: int = 0  # annotations or tasks this pull refused
    preannotated: int = 0  # tasks given the champion's predictions
    edit_cost: Optional[float] = None  # mean share of its pre-annotation annotators changed, over what was synced
    edited: int = 0  # synced annotations that started from a pre-annotation
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each step, in cycle order
    failed_step: Optional[str] = None
    error: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.failed_step is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CycleRecord":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def outcome(promoted: Optional[bool], trained: Optional[str], new_version: bool, pending: int, threshold: int) -> str:
    """One phrase for the lab lead: the judgement of this cycle's challenger, else why nothing was trained."""
    if promoted is not None:
        return f"{'promoted' if promoted else 'refused'} v{trained}"
    if new_version:
        return f"trained v{trained} (already judged)" if trained else "new dataset version, not trained"
    if 0 < pending < threshold:
        return f"nothing new to version ({pending} of {threshold} annotations needed)"
    return "nothing new"


def error_text(exc: BaseException, limit: int = 300) -> str:
    """One line naming an error: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:limit]}" if lines else type(exc).__name__


def failure(step: str, exc: BaseException, seconds: dict[str, float]) -> CycleRecord:
    error = error_text(exc)
    return CycleRecord(utc_now(), f"failed in {step}: {error}", seconds=dict(seconds), failed_step=step,
                       error=error)


class StepClock:
    """Runs the cycle's steps, timing each (``seconds``) and naming the one in progress (``current``), so a failure
    is recorded against its step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.current: Optional[str] = None

    def run(self, name: str, fn: Callable[..., T], *args) -> T:
        self.current, t0 = name, time.perf_counter()
        try:
            result = fn(*args)
        finally:
            self.seconds[name] = time.perf_counter() - t0
        self.current = None
        return result

    @property
    def failed_step(self) -> str:
        return self.current or OUTSIDE_STEPS


def record_path(state_dir: Path) -> Path:
    return Path(state_dir) / RECORD_FILE


def write_record(state_dir: Path, record: CycleRecord) -> Path:
    """The record as the last cycle's, appended to the history (each file replaced atomically)."""
    history = [r.to_dict() for r in read_history(state_dir)][-(HISTORY_KEPT - 1):]
    write_atomic(Path(state_dir) / HISTORY_FILE, json.dumps([*history, record.to_dict()], indent=1))
    return write_atomic(record_path(state_dir), json.dumps(record.to_dict(), indent=2))


def read_history(state_dir: Path) -> list[CycleRecord]:
    """Every recorded cycle, oldest first (none before the first; an unreadable history counts as none)."""
    path = Path(state_dir) / HISTORY_FILE
    try:
        return [CycleRecord.from_dict(d) for d in json.loads(path.read_text())] if path.exists() else []
    except (json.JSONDecodeError, TypeError, AttributeError):
        return []


def read_record(state_dir: Path) -> Optional[CycleRecord]:
    """The last cycle's record; None when no cycle has finished yet (ValueError when the file is not a record)."""
    path = record_path(state_dir)
    if not path.exists():
        return None
    try:
        return CycleRecord.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} is not a cycle record ({exc})") from None
