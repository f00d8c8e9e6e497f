"""A serial-section stack in the lab's loop, against the session's real Label Studio: `grainloop stack synth`, `stack
prepare` (one folder per input channel: every detector's slice k, k-1, k+1) into Label Studio's document root,
`grainloop init` with the folders in the order prepare prints. Annotators see one slice, the centre slice of the
first detector, one task per slice (the stack's end slices too); the loop carries the other five channels (the
neighbours, clamped at the ends, and the second detector) into the dataset version, trains a 6-channel model on
them and pre-annotates the open tasks from all six."""
from __future__ import annotations

import io
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset.manifest import read_manifest
from flows.evaluation import checkpoint
from flows.loop_config import load_loop_config
from flows.tracking import CHAMPION, alias_version, client as mlflow_client
from foundation.schema import LabelSchema
from foundation.semimage import read_plane
from foundation.slicestack import read_stack
from labeling.api import Connection
from ml.checkpoint import read_artifact
from ml.io import read_mask
from ml.stack_prepare import slice_id
from ml.synthetic_stack import DETECTORS
from tests.integration.lab_helpers import (ANNOTATORS, TINY_SETTINGS, cycle_summary, grainloop, lab_tasks,
                                          loop_projects, submit_masks)

pytestmark = pytest.mark.slow
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "cement-phases.yaml"
SLICES, SIZE, CONTEXT = 8, 96, 3
ANNOTATED = (0, 3, 5, SLICES - 1)  # both end slices, whose context is clamped


@pytest.fixture()
def prepared(tmp_path, server, monkeypatch):
    """The synthetic stacks (detector name -> (S, H, W)), the channel folders in prepare's printed order, masks."""
    stack = tmp_path / "stack"
    grainloop("stack", "synth", stack, "--slices", SLICES, "--size", SIZE, "--seed", 3)
    out = server.config.document_root / f"stack-{uuid.uuid4().hex[:6]}"
    printed = grainloop("stack", "prepare", *[a for d in DETECTORS for a in ("--detector", stack / f"{d}.tif")],
                        "--slices", CONTEXT, "--labels", stack / "labels.tif", "--out", out).split()
    folders = [Path(printed[i + 1]) for i, a in enumerate(printed) if a == "--images"]
    masks = Path(printed[printed.index("--masks") + 1])
    monkeypatch.setenv("GRAINLOOP_LS_SETTINGS", str(server.settings_file))
    monkeypatch.chdir(tmp_path)
    return {d: read_stack(stack / f"{d}.tif") for d in DETECTORS}, folders, masks


def _served(server, url: str) -> np.ndarray:
    with Connection.open(server.settings) as conn:
        response = conn.http.get(url)
    assert response.status_code == 200, url
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_a_stack_shows_one_slice_while_the_model_sees_its_neighbours(prepared, server, prefect_api):
    stacks, folders, masks = prepared
    first, second = (stacks[d] for d in DETECTORS)
    assert [f.name for f in folders] == [f"{d}_z{o}" for d in DETECTORS for o in ("0", "-1", "+1")]
    title = f"stack {folders[0].parent.name}"
    out = grainloop("init", *[a for f in folders for a in ("--images", f)], "--schema", SCHEMA, "--project", title,
                    "--pixel-size-um", "0.01")
    assert f"{SLICES} new task(s)" in out
    for key, value in TINY_SETTINGS.items():
        grainloop("config", "set", key, value)
    loop = load_loop_config(Path("loop/loop.json"))
    assert loop.labeling.images == folders[0] and loop.labeling.channels == tuple(folders[1:])
    assert loop.schema == LabelSchema.load(SCHEMA)
    project_id = next(p.id for p in loop_projects(server, title))

    tasks = {t["data"]["source"]: t for t in lab_tasks(server, project_id)}
    assert sorted(tasks) == [f"{slice_id(k)}.tif" for k in range(SLICES)]  # one task per slice, ends included
    for k in range(SLICES):  # what the annotator is shown: slice k of the first detector, nothing else
        assert np.array_equal(_served(server, tasks[f"{slice_id(k)}.tif"]["data"]["image"]), first[k])

    submit_masks(server, ANNOTATORS[0], [tasks[f"{slice_id(k)}.tif"] for k in ANNOTATED], masks, loop.schema)
    summary = cycle_summary(grainloop("cycle"))
    assert summary["dataset"] == "dataset-v1"
    rows = {r.source: r for r in read_manifest(loop.versions.data_dir)}
    assert sorted(rows) == [f"{slice_id(k)}.tif" for k in ANNOTATED]
    data = loop.versions.data_dir
    for k in ANNOTATED:  # the slice, its phase mask through the brush round trip, and the five other channels
        row = rows[f"{slice_id(k)}.tif"]
        assert np.array_equal(read_plane(data / row.image), first[k])
        assert np.array_equal(read_mask(data / row.mask), read_mask(masks / f"{slice_id(k)}.png"))
        assert row.channels == tuple(f"channels/c{c}/{row.id}.tif" for c in range(1, 2 * CONTEXT))
        below, above = max(k - 1, 0), min(k + 1, SLICES - 1)  # prepare's order; the ends clamped
        expected = [first[below], first[above], second[k], second[below], second[above]]
        for name, plane in zip(row.channels, expected):
            assert np.array_equal(read_plane(data / name), plane), (k, name)

    champion = alias_version(mlflow_client(loop.tracking), loop.tracking.model_name, CHAMPION)
    assert champion is not None
    artifact, _ = read_artifact(checkpoint(loop.tracking, champion.version, loop.state_dir / "champion"))
    assert artifact.model_config.in_channels == 2 * CONTEXT and artifact.schema == loop.schema
    model_version = f"{loop.tracking.model_name}@v{champion.version}"
    open_tasks = [t for t in lab_tasks(server, project_id) if not t["total_annotations"]]
    assert len(open_tasks) == SLICES - len(ANNOTATED)
    for task in open_tasks:  # pre-annotated by the 6-channel champion, in the cement schema's labels
        prediction = next(p for p in task["predictions"] if p["model_version"] == model_version)
        labels = {label for r in prediction["result"] for label in r["value"].get("brushlabels", [])}
        assert labels <= {c.name for c in loop.schema.classes}
