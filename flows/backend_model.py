"""The ML backend's predictor: the loop's champion, followed through its registry alias, predicting the tasks
Label Studio sends through the batch pre-annotation's own path (flows/task_predictions.py), tiles included.

The alias is read at most once every ``refresh_s`` seconds, so a promotion is picked up without a restart and a
request costs no registry round trip; the checkpoint of a new champion is downloaded and loaded on first use.
Model use is serialised by one lock. Label Studio skips tasks that already hold a prediction of the version
``/setup`` reported, but it checks before asking and saves after the answer, so concurrent requests for the same
tasks would each store one: the predictor remembers the (task, version) pairs it answered for ``answered_ttl_s``
seconds and answers a repeat with no prediction. Task data is untrusted: a task whose source fails the path checks,
whose tile box is malformed or outside its image, or whose image cannot be read gets no prediction.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from flows.evaluation import checkpoint
from flows.loop_config import LoopConfig
from flows.preannotate import champion
from flows.task_predictions import Predicted, inputs, load_predictor, predict_sources, predictable, task_items
from flows.tracking import prediction_version
from labeling.projects import ProjectRef
from labeling.push import PushConfig, payload

log = logging.getLogger(__name__)
TILE_KEYS = ("y", "x", "height", "width")


@dataclass(frozen=True)
class PredictorConfig:
    refresh_s: float = 5.0  # the champion alias is read again after this many seconds
    answered_ttl_s: float = 120.0  # a (task, version) answered this recently is not answered again
    project_id: Optional[int] = None  # only this Label Studio project's requests are answered (None: any)

    def __post_init__(self) -> None:
        if self.refresh_s < 0 or self.answered_ttl_s < 0:
            raise ValueError("refresh_s and answered_ttl_s must be >= 0")


def valid_tile(tile) -> bool:
    """Whether a task's tile box (server data) is None or four non-negative ints with a positive size."""
    if tile is None:
        return True
    if not isinstance(tile, dict) or set(tile) != set(TILE_KEYS):
        return False
    values = [tile[k] for k in TILE_KEYS]
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values) and min(values[2:]) > 0


def fits(task: dict, shape: tuple[int, ...]) -> bool:
    """Whether the task's tile box lies inside its source image (a task without a tile is the whole image)."""
    tile = task["data"].get("tile")
    return tile is None or (tile["y"] + tile["height"] <= shape[0] and tile["x"] + tile["width"] <= shape[1])


def group_tasks(tasks) -> dict[str, list[dict]]:
    """Well-formed tasks (an int id, a string source, a valid tile) grouped by source; the rest are left out."""
    groups: dict[str, list[dict]] = {}
    for t in tasks if isinstance(tasks, list) else []:
        data = t.get("data") if isinstance(t, dict) else None
        if not (isinstance(data, dict) and isinstance(t.get("id"), int) and isinstance(data.get("source"), str)
                and data["source"] and valid_tile(data.get("tile"))):
            continue
        groups.setdefault(data["source"], []).append(t)
    return groups


def project_of(request_project) -> Optional[int]:
    """The project id of a /predict or /setup request's ``project`` ("ID.created_at"); None when unreadable."""
    head = str(request_project or "").split(".", 1)[0]
    return int(head) if head.isdigit() else None


class ChampionPredictor:
    def __init__(self, loop: LoopConfig, config: PredictorConfig = PredictorConfig(),
                 on_change: Optional[Callable[[str], None]] = None):
        self.loop, self.config, self.on_change = loop, config, on_change
        self._version: Optional[str] = None
        self._checked = float("-inf")
        self._version_lock, self._lock = threading.Lock(), threading.Lock()
        self._loaded: tuple[Optional[str], object, object] = (None, None, None)
        self._answered: dict[tuple[int, str], float] = {}

    def version(self) -> Optional[str]:
        """The champion's registered version, read again when the last read is older than refresh_s."""
        with self._version_lock:
            if time.monotonic() - self._checked >= self.config.refresh_s:
                before, first = self._version, self._checked == float("-inf")
                try:
                    self._version = champion(self.loop)
                except Exception as exc:  # the registry is unreachable: keep serving the last known champion
                    log.warning("champion alias not read: %s", exc)
                self._checked = time.monotonic()
                if self.on_change and not first and self._version != before:
                    self.on_change(self.model_version_of(self._version))
            return self._version

    def model_version_of(self, version: Optional[str]) -> str:
        return prediction_version(self.loop.tracking.model_name, version) if version else ""

    def model_version(self) -> str:
        """The model_version the backend's predictions carry now ("" before the first champion)."""
        return self.model_version_of(self.version())

    def warm(self) -> Optional[str]:
        """Resolve the champion and load its model now (the first request then pays neither)."""
        version = self.version()
        if version:
            with self._lock:
                self._model(version)
        return version

    def _model(self, version: str):
        if self._loaded[0] != version:
            model_file = checkpoint(self.loop.tracking, version, self.loop.state_dir / "champion")
            self._loaded = (version, *load_predictor(model_file))
        return self._loaded[1], self._loaded[2]

    def predict(self, tasks, project=None) -> list[list[dict]]:
        """Label Studio's ``results``: per task (in order) a list holding its prediction, or empty."""
        tasks = tasks if isinstance(tasks, list) else []
        empty: list[list[dict]] = [[] for _ in tasks]
        version = self.version()
        wanted = self.config.project_id
        if version is None or (wanted is not None and project_of(project) != wanted):
            return empty
        model_version = self.model_version_of(version)
        with self._lock:
            now = time.monotonic()
            self._answered = {k: t for k, t in self._answered.items() if now - t < self.config.answered_ttl_s}
            fresh = [t for t in tasks if isinstance(t, dict) and (t.get("id"), model_version) not in self._answered]
            by_task = self._predict_groups(version, model_version, predictable(self.loop, group_tasks(fresh)))
            self._answered.update({(task_id, model_version): now for task_id in by_task})
        return [[by_task.pop(t["id"])] if isinstance(t, dict) and t.get("id") in by_task else [] for t in tasks]

    def _predict_groups(self, version: str, model_version: str, groups: dict[str, list[dict]]) -> dict[int, dict]:
        if not groups:
            return {}
        model, artifact = self._model(version)
        results: list[Predicted] = []
        for source in sorted(groups):
            try:
                results += predict_sources(model, artifact, [inputs(self.loop, source)], [source],
                                           self.loop.strategy)
            except Exception as exc:  # an unreadable or odd image: that source's tasks get no prediction
                log.warning("no prediction for %s: %s", source, exc)
        kept = {r.image_id: [t for t in groups[r.image_id] if fits(t, r.labels.shape)] for r in results}
        items, _ = task_items(kept, results, self.loop.strategy)
        first = {}
        for item in items:
            first.setdefault(item.task_id, item)  # a task id listed twice is answered once
        ref = ProjectRef(self.config.project_id or 0, self.loop.labeling.project_title, self.loop.schema)
        body = payload(list(first.values()), ref, PushConfig(model_version, set_project_version=False))
        return {int(p.pop("task")): p for p in body}
