"""A lab's loop driven through the CLI, as the README's "Your own images" steps do it (test_own_images,
test_stack_loop): the `grainloop` runner, tiny training settings, the project's tasks, and masks submitted under
annotator accounts through Label Studio's API."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from typer.testing import CliRunner

from foundation.schema import LabelSchema, binary_schema
from grainloop.cli import app
from labeling.api import Connection, iter_tasks
from labeling.regions import mask_to_results
from labeling.users import user_token
from ml.io import read_mask

TINY_SETTINGS = {"train.decoder_channels": "[16, 16, 16, 16, 16]", "train.epochs": "3", "train.restart_epochs": "3",
                 "train.patch": "64", "train.patches_per_epoch": "16", "train.batch_size": "4", "train.lr": "0.003",
                 "rule.minimums.mean_fg_iou": "0.0"}  # a tiny model: the rule's minimum would refuse it
ANNOTATORS = ("ana@lab.test", "ben@lab.test")
PASSWORD = "annotate-me-2026"


def grainloop(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def cycle_summary(printed: str) -> dict:
    """The JSON summary `grainloop cycle` prints last."""
    return json.loads(printed[printed.index("\n{") + 1:] if not printed.startswith("{") else printed)


def lab_tasks(server, project_id: int) -> list[dict]:
    with Connection.open(server.settings) as conn:
        return list(iter_tasks(conn, project_id, page_size=1000, all_fields=True))


def loop_projects(server, title: str):
    with Connection.open(server.settings) as conn:
        return [p for p in conn.sdk.projects.list() if p.title == title]


def submit_masks(server, email: str, tasks: Sequence[dict], masks: Path, schema: LabelSchema) -> None:
    """The annotator's account (the README's `grainloop labelstudio user add EMAIL`) submits, with their own token,
    the mask `masks/<task source>.png` for each task."""
    from label_studio_sdk.client import LabelStudio

    assert email in grainloop("labelstudio", "user", "add", email, "--password", PASSWORD)
    ls = LabelStudio(base_url=server.settings.url, api_key=user_token(server.settings.url, email, PASSWORD))
    for task in tasks:
        mask = read_mask(masks / Path(task["data"]["source"]).with_suffix(".png"))
        ls.annotations.create(task["id"], result=mask_to_results(mask, schema, polygon_above=-1), lead_time=20.0)


def annotate(server, project_id: int, masks: Path, per_annotator: int, schema: LabelSchema | None = None) -> None:
    """Each of ANNOTATORS submits masks for tasks nobody has done."""
    todo = iter(t for t in lab_tasks(server, project_id) if not t["total_annotations"])
    for email in ANNOTATORS:
        submit_masks(server, email, [next(todo) for _ in range(per_annotator)], masks, schema or binary_schema())
