"""Annotation pull: exact masks, incremental watermark, policies, agreement, provenance, quarantine, crash."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from foundation.schema import LabelSchema
from labeling.api import LabelStudioError
from labeling.lifecycle import down
from labeling.masks import mask_to_polygon, mask_to_rle
from labeling.consensus import Consensus
from labeling.pull import PullConfig, pull
from labeling.review import REVIEWS_KEY, review
from labeling.push import MaskPrediction, PushConfig, push_predictions
from labeling.regions import brush_results
from tests.integration.helpers import annotate, imported_project, task_shape

pytestmark = pytest.mark.slow


def _rows(out):
    with (out / "provenance.csv").open() as f:
        return list(csv.DictReader(f))


def _mask(out, task):
    return np.asarray(Image.open(out / "masks" / task["data"]["source"].replace(".png", ".png")))


def _brush(name, mask, tool="brush"):
    h, w = mask.shape
    return {"from_name": tool, "to_name": "image", "type": "brushlabels", "original_width": w, "original_height": h,
            "value": {"format": "rle", "rle": mask_to_rle(mask), "brushlabels": [name]}}


def _polygon(name, points, shape):
    return {"from_name": "polygon", "to_name": "image", "type": "polygonlabels", "original_width": shape[1],
            "original_height": shape[0], "value": {"points": points, "polygonlabels": [name], "closed": True}}


def test_mixed_brush_and_polygons_become_exact_class_masks(conn, docroot, tmp_path):
    phases = LabelSchema.load("schemas/phases.yaml")
    project, tasks, _ = imported_project(conn, docroot, 1, phases, size=(60, 80))
    shape = task_shape(tasks[0])
    truth = np.zeros(shape, np.uint8)
    truth[5:25, 5:30] = 2  # quartz, brush
    truth[30:50, 40:70] = 4  # clay-mix, brush
    blob = np.zeros(shape, bool)
    blob[10:40, 45:60] = True
    blob[20:30, 60:75] = True
    truth[blob] = 1  # pore, polygon painted over clay-mix
    results = [_brush("quartz", truth == 2), _brush("clay-mix", np.isin(truth, (1, 4)) & ~blob | (truth == 4)),
               _polygon("pore", mask_to_polygon(blob), shape)]
    annotate(conn, tasks[0]["id"], results)
    out = tmp_path / "pulled"
    report = pull(conn, project, PullConfig(out=out, document_root=docroot))
    assert report.masks == 1 and not report.quarantined
    assert np.array_equal(_mask(out, tasks[0]), truth)
    schema = json.loads((out / "schema.json").read_text())
    assert schema["hash"] == phases.hash and _rows(out)[0]["schema_hash"] == phases.hash


def test_incremental_pull_skips_cancelled_and_reads_only_new(conn, docroot, tmp_path):
    project, tasks, _ = imported_project(conn, docroot, 4)
    masks = [np.zeros(task_shape(t), np.uint8) for t in tasks]
    for i, m in enumerate(masks):
        m[2 + i:10 + i, 3:20] = 1
    ids = [annotate(conn, t["id"], brush_results(m, project.schema)) for t, m in zip(tasks[:3], masks)]
    annotate(conn, tasks[3]["id"], [], was_cancelled=True)
    out = tmp_path / "pulled"
    config = PullConfig(out=out, page_size=2)
    first = pull(conn, project, config)
    assert first.masks == 3 and not first.quarantined
    assert not (out / "masks" / tasks[3]["data"]["source"]).exists()
    stamp = (out / "provenance.csv").stat().st_mtime_ns
    nothing = pull(conn, project, config)
    assert nothing.tasks == 0 and (out / "provenance.csv").stat().st_mtime_ns == stamp
    masks[1][:] = 0
    masks[1][20:30, 30:40] = 1
    conn.sdk.annotations.update(ids[1], result=brush_results(masks[1], project.schema))
    second = pull(conn, project, config)
    assert second.tasks == 1 and np.array_equal(_mask(out, tasks[1]), masks[1])
    assert sorted(int(r["annotation_id"]) for r in _rows(out)) == sorted(ids)


def test_policies_agreement_and_provenance(conn, docroot, tmp_path):
    project, tasks, _ = imported_project(conn, docroot, 1, size=(20, 30))
    task = tasks[0]
    a, b, c = (np.zeros((20, 30), np.uint8) for _ in range(3))
    a[0:10, 0:10] = 1
    b[0:10, 0:20] = 1
    c[0:10, 5:15] = 1
    push_predictions(conn, project, PushConfig("seed-model"), [MaskPrediction(task["id"], b, 0.3)])
    prediction = conn.sdk.predictions.list(task=task["id"])[0]
    ids = [annotate(conn, task["id"], brush_results(a, project.schema), lead_time=4.0, ground_truth=True),
           annotate(conn, task["id"], brush_results(b, project.schema), parent_prediction=prediction.id),
           annotate(conn, task["id"], brush_results(c, project.schema), parent_prediction=prediction.id)]
    expected = {"latest": c, "reviewed": a, "majority": ((a + b + c) >= 2).astype(np.uint8)}
    for policy, want in expected.items():
        out = tmp_path / policy
        pull(conn, project, PullConfig(out=out, policy=policy))
        assert np.array_equal(_mask(out, task), want), policy
    rows = {int(r["annotation_id"]): r for r in _rows(tmp_path / "latest")}
    assert set(rows) == set(ids) and rows[ids[2]]["chosen"] == "True" and rows[ids[0]]["chosen"] == "False"
    assert rows[ids[0]]["lead_time"] == "4.0" and rows[ids[0]]["prediction_model_version"] == ""
    assert rows[ids[1]]["prediction_model_version"] == "seed-model" and float(rows[ids[1]]["edit_iou"]) == 1.0
    assert float(rows[ids[2]]["edit_iou"]) == pytest.approx(100 / 200)
    assert float(rows[ids[2]]["consensus_iou"]) == 1.0 and float(rows[ids[0]]["consensus_iou"]) == pytest.approx(50 / 150)
    assert rows[ids[1]]["annotator"] and rows[ids[1]]["created_at"] and rows[ids[1]]["updated_at"]
    with (tmp_path / "latest" / "agreement.csv").open() as f:
        agreement = next(csv.DictReader(f))
    pairs = (100 / 200, 50 / 150, 100 / 200)  # IoU(a,b), IoU(a,c), IoU(b,c)
    assert float(agreement["grain"]) == pytest.approx(np.mean(pairs)) and agreement["annotations"] == "3"


def test_an_annotation_edited_after_its_pull_is_pulled_again(conn, docroot, tmp_path):
    """The task written at the watermark's instant and edited since (its only change): the next pull reads it
    (the watermark's id exclusion once hid it until another task moved the watermark, and then lost it)."""
    project, tasks, _ = imported_project(conn, docroot, 1, size=(20, 30))
    before, after = np.zeros((20, 30), np.uint8), np.zeros((20, 30), np.uint8)
    before[0:5, 0:5], after[5:15, 5:25] = 1, 1
    annotation = annotate(conn, tasks[0]["id"], brush_results(before, project.schema))
    cfg = PullConfig(out=tmp_path / "pull")
    assert pull(conn, project, cfg).masks == 1
    conn.request("PATCH", f"/api/annotations/{annotation}/", json={"result": brush_results(after, project.schema)})
    assert pull(conn, project, cfg).masks == 1
    assert np.array_equal(_mask(tmp_path / "pull", tasks[0]), after)
    assert pull(conn, project, cfg).tasks == 0  # and nothing twice


def test_disagreeing_annotators_wait_for_a_review_then_the_reviewed_mask_is_pulled(conn, docroot, tmp_path):
    project, tasks, _ = imported_project(conn, docroot, 2, size=(20, 30))
    a, b = np.zeros((20, 30), np.uint8), np.zeros((20, 30), np.uint8)
    a[0:10, 0:10] = 1
    b[10:20, 10:30] = 1  # no overlap: agreement 0
    apart = [annotate(conn, tasks[0]["id"], brush_results(m, project.schema)) for m in (a, b)]
    for m in (a, a):
        annotate(conn, tasks[1]["id"], brush_results(m, project.schema))
    cfg, out = PullConfig(out=tmp_path / "pull", policy="staple", consensus=Consensus(0.5)), tmp_path / "pull"
    report = pull(conn, project, cfg)
    assert report.held == [tasks[0]["id"]] and report.masks == 1
    record = json.loads((out / "records" / f"{tasks[0]['id']}.json").read_text())
    assert record["mask"] is None and record["reason"].startswith("held for review: agreement 0.000")
    conn.request("PATCH", f"/api/annotations/{apart[1]}/", json={"ground_truth": True})  # the reviewer's verdict
    report = pull(conn, project, cfg)
    assert report.held == [] and report.masks == 1
    assert np.array_equal(_mask(out, tasks[0]), b)


def test_a_rejected_annotation_goes_back_and_enters_once_reworked_and_accepted(conn, docroot, tmp_path):
    project, tasks, _ = imported_project(conn, docroot, 1, size=(20, 30))
    task_id, first, fixed = tasks[0]["id"], np.zeros((20, 30), np.uint8), np.zeros((20, 30), np.uint8)
    first[0:5, 0:5], fixed[0:10, 0:10] = 1, 1
    annotation = annotate(conn, task_id, brush_results(first, project.schema))
    cfg = PullConfig(out=tmp_path / "pull", consensus=Consensus(require_review=True))
    review(conn, annotation, accept=False, comment="half the grains are missing", reviewer="rev@lab")
    assert pull(conn, project, cfg).masks == 0
    record = json.loads((tmp_path / "pull" / "records" / f"{task_id}.json").read_text())
    assert record["reason"] == f"rejected in review: annotation {annotation}: half the grains are missing"
    meta = conn.request("GET", f"/api/tasks/{task_id}/")["meta"]  # what the annotator's rework view filters on
    assert meta[REVIEWS_KEY][str(annotation)]["verdict"] == "rejected"
    conn.request("PATCH", f"/api/annotations/{annotation}/", json={"result": brush_results(fixed, project.schema)})
    report = pull(conn, project, cfg)  # reworked: no longer rejected, waiting for a verdict
    assert report.masks == 0 and report.held == [task_id]
    review(conn, annotation, accept=True, reviewer="rev@lab")
    assert pull(conn, project, cfg).masks == 1
    assert np.array_equal(_mask(tmp_path / "pull", tasks[0]), fixed)


def test_bad_annotations_are_quarantined_and_the_rest_pulled(conn, docroot, tmp_path):
    project, tasks, config = imported_project(conn, docroot, 6)
    shape = task_shape(tasks[0])
    good = np.zeros(shape, np.uint8)
    good[3:9, 4:12] = 1
    wrong = np.zeros((shape[0] + 1, shape[1]), np.uint8)
    bad = {"empty result": [],
           "polygon outside the image": [_polygon("grain", [[10, 10], [120, 10], [50, 60]], shape)],
           "unknown label": [_brush("feldspar", good)],
           "holds": [_brush("grain", wrong)],
           "image no longer loads": brush_results(good, project.schema)}
    for task, results in zip(tasks, [*bad.values(), brush_results(good, project.schema)]):
        annotate(conn, task["id"], results)
    (config.root / tasks[4]["data"]["source"]).unlink()  # its image is gone
    out = tmp_path / "pulled"
    report = pull(conn, project, PullConfig(out=out, document_root=docroot))
    assert report.tasks == 6 and report.masks == 1
    quarantine = json.loads((out / "quarantine.json").read_text())
    assert len(quarantine) == 5
    for (reason, _), task, entry in zip(bad.items(), tasks, sorted(quarantine, key=lambda q: q["task_id"])):
        assert entry["task_id"] == task["id"] and reason in entry["reason"], (reason, entry)
    assert np.array_equal(_mask(out, tasks[5]), good)


def test_server_killed_mid_pull_loses_and_doubles_nothing(conn, docroot, tmp_path, server):
    project, tasks, _ = imported_project(conn, docroot, 12)
    masks = {}
    for i, task in enumerate(tasks):
        masks[task["id"]] = np.zeros(task_shape(task), np.uint8)
        masks[task["id"]][i:i + 5, 2:9] = 1
        annotate(conn, task["id"], brush_results(masks[task["id"]], project.schema))
    out = tmp_path / "pulled"
    config = PullConfig(out=out, page_size=3)

    def kill_after_second_page(page: int) -> None:
        if page == 2:
            assert down(server.settings_file)  # stops the server by its recorded PID

    with pytest.raises((LabelStudioError, OSError, Exception)):
        pull(conn, project, config, on_page=kill_after_second_page)
    assert len(list((out / "records").glob("*.json"))) == 6
    server.restart()
    from labeling.api import Connection
    with Connection.open(server.settings) as fresh:
        rerun = pull(fresh, project, config)
        assert rerun.tasks == 6
        assert pull(fresh, project, config).tasks == 0
    rows = _rows(out)
    assert len(rows) == 12 and len({r["annotation_id"] for r in rows}) == 12
    for task in tasks:
        assert np.array_equal(_mask(out, task), masks[task["id"]])
