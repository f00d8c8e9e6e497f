"""A SIMULATED annotator for the demo and the tests: it submits ground-truth masks through the Label Studio API.

It stands in for a person, and the demo says so wherever it reports (its annotations have ``lead_time`` 0).
It labels the tasks a person would open first: the ones ranked highest by the champion's active-learning priority
(read from the pre-annotation's score, labeling/priority.py: the order of the project's label stream), then any
others in id order, and it starts from the pre-annotation (``parent_prediction``) like a person correcting it, so
the edit cost is measured.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundation.schema import LabelSchema
from labeling.api import Connection, iter_tasks
from labeling.priority import task_priority, top_prediction
from labeling.regions import mask_to_results
from labeling.tiles import TileBox
from ml.io import read_mask

SIMULATED = "simulated annotator (ground truth)"


@dataclass(frozen=True)
class SimulatedAnnotator:
    truth: Path  # class maps (or instance maps) named like the imported images (relative path, .png)
    schema: LabelSchema
    instances: bool = False  # truth holds instance maps (one id per grain): every grain is class 1

    def _priority(self, task: dict) -> tuple:
        best = task_priority(task)
        return (best is None, -(best or 0.0), task["id"])  # unscored tasks last

    def _parent(self, task: dict) -> int | None:
        top = top_prediction(task)
        return None if top is None else top["id"]

    def annotate(self, conn: Connection, project_id: int, n: int,
                 where: Callable[[dict], bool] | None = None) -> list[int]:
        """Submit ground truth for the n highest-ranked unannotated tasks (those ``where`` accepts, if given);
        returns their ids. A tile task gets its tile's crop of the truth."""
        open_tasks = [t for t in iter_tasks(conn, project_id, page_size=1000, all_fields=True)
                      if not t.get("total_annotations") and (where is None or where(t))]
        done = []
        for task in sorted(open_tasks, key=self._priority)[:n]:
            truth = read_mask(self.truth / Path(task["data"]["source"]).with_suffix(".png"))
            if task["data"].get("tile"):  # one tile of a large image: its crop of the truth
                truth = TileBox(**task["data"]["tile"]).crop(truth)
            result = self._regions(truth)
            conn.sdk.annotations.create(task["id"], result=result, lead_time=0.0,
                                        parent_prediction=self._parent(task), ground_truth=False)
            done.append(task["id"])
        return done

    def _regions(self, truth):
        """What the annotator draws: one region per grain where the truth holds instance maps (as a person who
        separates touching grains does), else one brush region per class."""
        if self.instances:
            return mask_to_results((truth > 0).astype("uint8"), self.schema, polygon_above=0, instance_map=truth)
        return mask_to_results(truth.astype("uint8"), self.schema, polygon_above=-1)
