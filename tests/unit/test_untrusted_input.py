"""Everything Label Studio returns is untrusted input (issue 12, items 2 and 3), without a server: paths built from
task data stay inside their folders, and no annotation result, however malformed, stops a pull."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import labeling.pulltask as pulltask
from dataset.rows import pulled_items
from dataset.store import add_items
from foundation.paths import PathEscape, component, inside
from foundation.pullrecord import PullRecord
from foundation.schema import binary_schema
from labeling.pull import PullConfig, PullReport, _write_page
from labeling.pullstore import PullStore
from labeling.pulltask import TaskResult, process_task
from tests.malformed_results import brush, sized_cases, unsized_cases, valid_mask

SCHEMA = binary_schema()
SHAPE = (24, 32)
CLIMB = "../" * 8 + "tmp/grainloop-escape.png"
ESCAPES = {"dot-dot": CLIMB, "dot-dot inside": "a/../../x.png", "absolute": "/tmp/grainloop-escape.png",
           "url-encoded": "%2e%2e%2f" * 8 + "tmp/x.png", "url-encoded slash": "..%2f..%2fx.png",
           "backslash": "..\\..\\x.png", "nul": "a\x00.png", "empty": "", "root": ".", "not a string": ["a.png"]}


@pytest.fixture()
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_inside_refuses_paths_leaving_the_root(tmp_path, kind):
    with pytest.raises(PathEscape):
        inside(tmp_path / "root", ESCAPES[kind])


def test_inside_refuses_a_symlink_pointing_out_and_keeps_ordinary_paths(tmp_path, outside):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(PathEscape, match="resolves outside"):
        inside(root, "link/secret.png")
    assert inside(root, "a/b c.png") == root / "a" / "b c.png"
    assert inside(Path("relative/root"), "x%2fy.png") == Path("relative/root/x%2fy.png")  # a literal name
    for name in ("a/b", "..", "%2e%2e", "a%2fb", "", None, "."):
        with pytest.raises(PathEscape):
            component(name)
    assert component("0" * 64) == "0" * 64


def _result(data: dict, task_id: int = 1) -> TaskResult:
    return TaskResult(task_id, data, mask=np.ones(SHAPE, np.uint8))


def test_pull_store_paths_from_task_data_stay_in_the_pull_folder(tmp_path, outside):
    store = PullStore(tmp_path / "pull", SCHEMA)
    for source in ESCAPES.values():
        if source:  # no source at all is task-<id>.png
            with pytest.raises(PathEscape):
                store.mask_path(_result({"source": source}))
    (tmp_path / "pull" / "masks").mkdir(parents=True)
    os.symlink(outside, tmp_path / "pull" / "masks" / "link")
    with pytest.raises(PathEscape):
        store.save(_result({"source": "link/x.png"}))
    tile = {"tile": {"y": 0, "x": 0, "height": 24, "width": 32}, "height": 24, "width": 32, "source": "t.png",
            "tiling": {"max_side": 256, "overlap": 32}}
    for sha in ("../../../../x", "a/b", "..", "%2e%2e", "a%2fb", "", 5):
        with pytest.raises(PathEscape):
            store.tile_path(_result({**tile, "sha256": sha}))
    with pytest.raises(PathEscape):
        store.tile_path(_result({**tile, "sha256": "ab", "tile": {**tile["tile"], "y": "/../../../x"}}))
    assert not list(outside.iterdir()) and not list((tmp_path / "pull" / "masks").glob("*.png"))


def _task(task_id: int, data: dict, *results: list) -> dict:
    return {"id": task_id, "data": data, "updated_at": "2026-01-01T00:00:00Z",
            "annotations": [{"id": task_id * 100 + k, "result": r, "updated_at": f"2026-01-01T00:00:0{k}Z"}
                            for k, r in enumerate(results)]}


def test_a_page_with_escaping_tasks_quarantines_them_and_writes_the_rest(tmp_path, outside):
    good = valid_mask(SHAPE, 1)
    sized = {"height": SHAPE[0], "width": SHAPE[1]}
    tiled = {**sized, "tile": {"y": 0, "x": 0, "height": 24, "width": 32}, "tiling": {"max_side": 256, "overlap": 32}}
    bad = [{**sized, "source": s} for s in ESCAPES.values() if s] + \
          [{**tiled, "source": "t.png", "sha256": s} for s in ("../../x", "a/b", "%2e%2e")] + \
          [{**tiled, "source": "t.png", "sha256": "ab", "tiling": "big"}]  # malformed, not escaping
    tasks = [_task(i + 1, data, [brush(good)]) for i, data in enumerate(bad)]
    tasks.append(_task(99, {**sized, "source": "fine/ok.png"}, [brush(good)]))
    out, report = tmp_path / "pull", PullReport()
    _write_page(tasks, PullStore(out, SCHEMA), SCHEMA, PullConfig(out=out), report)
    assert report.tasks == len(tasks) and report.masks == 1
    assert sorted(q["task_id"] for q in report.quarantined) == list(range(1, len(bad) + 1))
    assert all("task data refused" in q["reason"] for q in report.quarantined)
    assert "PathEscape" in report.quarantined[0]["reason"] and "TypeError" in report.quarantined[-1]["reason"]
    assert np.array_equal(np.asarray(Image.open(out / "masks" / "fine" / "ok.png")), good)
    records = PullStore(out, SCHEMA).records()
    assert len(records) == len(tasks) and all(r.source is None and not r.mask for r in records[:-1])
    assert not list(outside.iterdir()) and not Path("/tmp/grainloop-escape.png").exists()


def test_image_urls_leaving_the_document_root_are_quarantined(tmp_path, outside):
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    Image.fromarray(np.zeros(SHAPE, np.uint8)).save(outside / "secret.png")
    os.symlink(outside, docroot / "link")
    urls = ["../outside/secret.png", "%2e%2e/outside/secret.png", "%252e%252e%252foutside/secret.png",
            str(outside / "secret.png"), "link/secret.png", ""]
    for url in urls:
        task = _task(1, {"image": f"/data/local-files/?d={url}"}, [brush(valid_mask(SHAPE, 2))])
        result = process_task(task, SCHEMA, "latest", docroot)
        assert result.mask is None and "leaves the document root" in result.quarantine[0]["reason"], url


def test_sync_refuses_sources_leaving_the_images_folder(tmp_path, outside):
    images, pull_dir = tmp_path / "images", tmp_path / "pull"
    images.mkdir()
    (pull_dir / "masks").mkdir(parents=True)
    Image.fromarray(np.full(SHAPE, 7, np.uint8)).save(outside / "secret.png")
    Image.fromarray(np.full(SHAPE, 9, np.uint8)).save(images / "ok.png")
    os.symlink(outside, images / "link")
    mask = valid_mask(SHAPE, 3)
    Image.fromarray(mask).save(pull_dir / "masks" / "m.png")
    sources = ["../outside/secret.png", str(outside / "secret.png"), "link/secret.png", CLIMB,
               "%2e%2e%2foutside/secret.png", "ok.png"]
    records = [PullRecord(i + 1, source=s, mask="masks/m.png") for i, s in enumerate(sources)]
    records.append(PullRecord(50, source="ok.png", mask="../../outside/secret.png"))
    items = pulled_items(records, pull_dir, images)
    report = add_items(tmp_path / "data", items, SCHEMA)
    assert report.added == ["ok"]
    assert sorted(i for i, _ in report.skipped) == sorted([f"task-{i}" for i in (1, 2, 3, 4, 5, 50)])
    assert all("Label Studio task data refused" in why for _, why in report.skipped)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png"]
    assert sorted(str(p.relative_to(tmp_path / "data")) for p in (tmp_path / "data").rglob("*.png")) == \
        ["images/ok.png", "masks/ok.png"]


CASES = sized_cases(SHAPE) + unsized_cases(SHAPE)


def test_every_malformed_result_is_quarantined_beside_a_good_annotation():
    assert len(CASES) >= 200
    for i, case in enumerate(CASES):
        good = valid_mask(SHAPE, 100 + i)
        data = {"source": f"f/{i}.png", **({"height": SHAPE[0], "width": SHAPE[1]} if case.sized else {})}
        result = process_task(_task(i + 1, data, case.result, [brush(good)]), SCHEMA, "latest", None)
        assert [q["annotation_id"] for q in result.quarantine] == [(i + 1) * 100], case.name
        assert result.mask is not None and np.array_equal(result.mask, good), case.name
        assert result.chosen == [(i + 1) * 100 + 1] and len(result.quarantine[0]["reason"]) <= 500, case.name


def test_only_choices_or_no_label_is_quarantined_not_an_empty_mask():
    choices = [{"type": "choices", "value": {"choices": ["none"]}, "from_name": "c", "to_name": "image"}]
    for results in (choices, [{"type": "rectanglelabels", "value": {"rectanglelabels": ["grain"]}}]):
        result = process_task(_task(1, {"height": 24, "width": 32}, results), SCHEMA, "latest", None)
        assert result.mask is None and "no labelled region" in result.quarantine[0]["reason"]


def test_annotations_disagreeing_on_the_image_size_are_all_quarantined():
    a, b = valid_mask(SHAPE, 4), valid_mask((SHAPE[0] + 2, SHAPE[1]), 5)
    result = process_task(_task(1, {"source": "s.png"}, [brush(a)], [brush(b)]), SCHEMA, "majority", None)
    assert result.mask is None and len(result.quarantine) == 2
    assert all("disagree on the image size" in q["reason"] for q in result.quarantine)


def test_anything_else_stops_at_the_annotation_or_the_task(monkeypatch):
    task = _task(1, {"height": 24, "width": 32, "source": "s.png"}, [brush(valid_mask(SHAPE, 6))])

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(pulltask, "decode", broken)
    result = process_task(task, SCHEMA, "latest", None)
    assert result.quarantine[0]["annotation_id"] == 100 and "RuntimeError: boom" in result.quarantine[0]["reason"]
    monkeypatch.undo()
    monkeypatch.setattr(pulltask, "agreement", broken)
    result = process_task(task, SCHEMA, "latest", None)
    assert result.mask is None and result.quarantine[0]["annotation_id"] is None
    assert "task not processed (RuntimeError: boom)" in result.quarantine[0]["reason"]
    weird = process_task({"id": 2, "data": ["not", "a", "dict"], "annotations": [{"id": 3, "result": []}]},
                         SCHEMA, "latest", None)
    assert weird.quarantine and weird.mask is None


def test_preannotate_predicts_no_image_outside_the_imported_folder(tmp_path):
    from flows.task_predictions import inside_images

    images = tmp_path / "images"
    images.mkdir()
    groups = {"a.png": [{"id": 1}], "../../etc/passwd": [{"id": 2}], "/etc/passwd": [{"id": 3}],
              "%2e%2e/x.png": [{"id": 4}], "sub/b.png": [{"id": 5}]}
    assert sorted(inside_images(images, groups)) == ["a.png", "sub/b.png"]
