"""The README's "Your own images" steps, followed exactly: Label Studio up (the session's server, started the way
`grainloop labelstudio up` starts it), `grainloop init` on a folder of unlabelled images, annotations submitted
through the API under two annotator accounts (made through Label Studio's own API), `grainloop cycle` -> a
dataset version, a champion and its predictions on the open tasks; `grainloop status` shows it; `grainloop add`
brings a new image in, pre-annotated; init run again changes nothing on the server; a second loop started with
`--start-model` (the first loop's champion file) pre-annotates every task at once. The lab has two detector
channels (a second `--images` folder): both reach the dataset version and the model's input."""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from dataset.manifest import read_manifest
from dataset.versioning import versions
from flows.loop_config import load_loop_config
from flows.evaluation import checkpoint
from flows.tracking import CHAMPION, CHOSEN, TAG_PROMOTION, alias_version, client as mlflow_client
from tests.integration.lab_helpers import (ANNOTATORS, TINY_SETTINGS, annotate, cycle_summary, grainloop,
                                          lab_tasks, loop_projects)

pytestmark = pytest.mark.slow


@pytest.fixture()
def lab(tmp_path, server, sample, monkeypatch):
    """A lab's folder of unlabelled images inside Label Studio's document root, and the settings `up` wrote."""
    images = server.config.document_root / f"lab-{uuid.uuid4().hex[:6]}" / "images"
    images.mkdir(parents=True)
    bse = images.parent / "bse"  # a second detector's images of the same fields, same file names
    bse.mkdir()
    for path in sorted((sample / "images").iterdir())[:12]:
        shutil.copy(path, images / path.name)
        shutil.copy(path, bse / path.name)
    monkeypatch.setenv("GRAINLOOP_LS_SETTINGS", str(server.settings_file))
    monkeypatch.chdir(tmp_path)
    return images


def test_a_lab_loop_from_init_to_first_champion(lab, server, sample, prefect_api):
    title = f"lab {lab.parent.name}"
    out = grainloop("init", "--images", lab, "--images", lab.parent / "bse", "--schema", "grains", "--project", title,
                    "--specimen-pattern", r"^(syn_\d+)", "--pixel-size-um", "0.02")
    assert "12 new task(s)" in out and "no champion yet" in out
    config = Path("loop/loop.json")  # init's default, which every loop verb reads
    for key, value in TINY_SETTINGS.items():
        grainloop("config", "set", key, value)
    loop = load_loop_config(config)
    assert loop.train.epochs == 3 and loop.samples.pixel_size_um == 0.02
    project_id = next(p.id for p in loop_projects(server, title))

    annotate(server, project_id, sample / "masks", per_annotator=4)
    printed = grainloop("cycle")
    summary = cycle_summary(printed)
    assert summary["dataset"] == "dataset-v1"
    assert [v.tag for v in versions(loop.versions)] == ["dataset-v1"]
    rows = read_manifest(loop.versions.data_dir)
    assert {a for r in rows for a in r.annotators} == set(ANNOTATORS)  # both accounts, by name
    assert all(r.pixel_size_um == 0.5 for r in rows)  # the TIFF's own metadata wins over the fallback
    assert all(r.group == f"specimen:{Path(r.source).stem}" for r in rows)  # the file-name pattern's group
    assert all(r.channels == (f"channels/c1/{r.id}.tif",) for r in rows)  # the second detector travels along
    champion = alias_version(mlflow_client(loop.tracking), loop.tracking.model_name, CHAMPION)
    assert champion is not None
    model_version = f"{loop.tracking.model_name}@v{champion.version}"
    open_tasks = [t for t in lab_tasks(server, project_id) if not t["total_annotations"]]
    assert len(open_tasks) == 4
    assert all(any(p["model_version"] == model_version for p in t["predictions"]) for t in open_tasks)

    status = json.loads(grainloop("status", "--json"))  # the lab lead's morning screen, for scripts
    assert status["labeling"]["total"] == 12 and status["labeling"]["annotated"] == 8
    assert status["labeling"]["with_champion_predictions"] == 4
    assert sorted(a["name"] for a in status["labeling"]["annotators"]) == sorted(ANNOTATORS)
    assert [v["tag"] for v in status["datasets"]["versions"]] == ["dataset-v1"]
    assert status["champion"]["version"] == str(champion.version) and status["champion"]["lineage"]
    assert status["last_cycle"]["record"]["dataset"] == "dataset-v1"
    assert "dataset-v1" in grainloop("status")  # the Rich screen shows the same

    new = lab.parent / "new-batch"
    new.mkdir()
    shutil.copy(sorted((sample / "images").iterdir())[12], new / "late.tif")
    (lab.parent / "new-bse").mkdir()
    shutil.copy(new / "late.tif", lab.parent / "new-bse" / "late.tif")  # its second channel
    assert "1 new task(s)" in grainloop("add", new, "--channel", lab.parent / "new-bse")
    assert (lab.parent / "bse" / "new-batch" / "late.tif").is_file()  # linked beside the first channel's
    late = [t for t in lab_tasks(server, project_id) if t["data"]["source"].endswith("late.tif")]
    assert len(late) == 1 and any(p["model_version"] == model_version for p in late[0]["predictions"])

    again = grainloop("init", "--images", lab, "--schema", "grains", "--project", title)
    assert "0 new task(s)" in again and len(lab_tasks(server, project_id)) == 13
    assert load_loop_config(config) == loop  # the saved settings stand

    # day one for a second lab: this champion's model file as its chosen start, pre-annotations at once
    model_file = checkpoint(loop.tracking, champion.version, loop.state_dir / "champion")
    day_one = grainloop("init", "--images", lab, "--images", lab.parent / "bse", "--out", "loop2",
                        "--project", f"{title} day one", "--start-model", model_file)
    second = load_loop_config(Path("loop2/loop.json"))
    chosen = alias_version(mlflow_client(second.tracking), second.tracking.model_name, CHAMPION)
    assert "champion v1, 13 task(s) pre-annotated" in day_one and chosen.tags[TAG_PROMOTION] == CHOSEN
