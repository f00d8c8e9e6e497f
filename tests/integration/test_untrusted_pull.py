"""Everything a real Label Studio returns is untrusted input (issue 12, items 2 and 3).

Task data imported through the API by any account (``source``, ``sha256``, the tile box, the image URL) must not
make the pull or the sync read or write outside their folders; and no annotation result, however malformed, may
stop a pull or hold its watermark back: it is quarantined with its reason, and the good annotations beside it are
pulled exactly. Both tests print the numbers they measured.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset.rows import pulled_items
from dataset.store import add_items
from labeling.pull import PullConfig, pull
from labeling.pullstore import PullStore
from tests.integration.helpers import annotate, imported_project, task_shape
from tests.malformed_results import brush, sized_cases, unsized_cases, valid_mask

pytestmark = pytest.mark.slow


def _import(conn, project_id: int, datas: list[dict]) -> list[int]:
    answer = conn.sdk.projects.import_tasks(project_id, request=[{"data": d} for d in datas], return_task_ids=True)
    return list(answer.task_ids)


def test_task_data_cannot_lead_the_pull_or_the_sync_out_of_their_folders(conn, docroot, tmp_path):
    project, tasks, config = imported_project(conn, docroot, 1, size=(24, 32))
    base, shape = tasks[0]["data"], task_shape(tasks[0])
    outside = Path(tempfile.mkdtemp(prefix="grainloop-outside-"))
    name = f"grainloop-escape-{uuid.uuid4().hex[:8]}.png"
    tmp = tempfile.gettempdir().strip("/")
    os.symlink(outside, config.root / "link")  # inside the images folder, pointing out
    os.symlink(outside, docroot / f"link-{project.id}")
    Image.fromarray(np.zeros(shape, np.uint8)).save(outside / "secret.png")
    tiled = {"tile": {"y": 0, "x": 0, "height": shape[0], "width": shape[1]}, "height": shape[0],
             "width": shape[1], "tiling": {"max_side": 256, "overlap": 32}}
    attempts = {"source ..": ["../" * 8 + f"{tmp}/{name}", f"a/../../../{name}"],
                "source absolute": [f"/{tmp}/{name}"],
                "source url-encoded": ["%2e%2e%2f" * 8 + f"{tmp}/{name}", f"..%2f..%2f{name}"],
                "source symlink": ["link/secret.png"],
                "sha256 with slashes": ["../../../../" + tmp, "a/b", "%2e%2e"],
                "tile box": ["../../../x"],
                "image URL": ["../../x.png", "%2e%2e/%2e%2e/x.png", str(outside / "secret.png"),
                              f"link-{project.id}/secret.png"]}
    datas, kinds = [], []
    for kind, values in attempts.items():
        for v in values:
            data = {**base, "key": uuid.uuid4().hex, "source": f"ok-{len(datas)}.png"}
            if kind.startswith("source"):
                data["source"] = v
            elif kind == "sha256 with slashes":
                data.update(tiled, sha256=v)
            elif kind == "tile box":
                data.update(tiled, tile={**tiled["tile"], "y": v})
            else:
                data["image"] = f"/data/local-files/?d={v}"
            datas.append(data)
            kinds.append(kind)
    ids = _import(conn, project.id, datas)
    good = valid_mask(shape, 0)
    for task_id in [tasks[0]["id"], *ids]:
        annotate(conn, task_id, [brush(good)])
    out = tmp_path / "pulled"
    report = pull(conn, project, PullConfig(out=out, document_root=docroot))
    quarantined = {q["task_id"]: q["reason"] for q in json.loads((out / "quarantine.json").read_text())}
    by_task = dict(zip(ids, kinds))
    refused_at_pull = Counter(by_task[t] for t in quarantined)
    assert report.tasks == len(ids) + 1 and report.masks == 2  # the good task and the symlinked source's mask
    assert set(quarantined) == {t for t, k in by_task.items() if k != "source symlink"}, quarantined
    assert np.array_equal(np.asarray(Image.open(out / "masks" / base["source"])), good)
    items = pulled_items(PullStore(out, project.schema).records(), out, config.root)
    added = add_items(tmp_path / "data", items, project.schema)
    refused_at_sync = Counter(by_task[int(i.removeprefix("task-"))] for i, _ in added.skipped)
    assert added.added == [Path(base["source"]).stem] and sum(refused_at_sync.values()) == 1
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png"]
    assert not list(tmp_path.rglob(name)) and not (Path("/") / tmp / name).exists() and not (Path("/") / name).exists()
    tried = Counter(kinds)
    print("\npath attempts by kind (tried / refused by the pull / refused by the sync):")
    for kind in attempts:
        print(f"  {kind}: {tried[kind]} / {refused_at_pull[kind]} / {refused_at_sync[kind]}")
    assert all(tried[k] == refused_at_pull[k] + refused_at_sync[k] for k in tried)


def _create(conn, task_id: int, result) -> str:
    """'' when created, else the error's type and status (the server refused it, or the SDK its answer)."""
    try:  # no retries: a retried request the server had stored would store it twice
        conn.sdk.annotations.create(task_id, result=result, request_options={"max_retries": 0})
        return ""
    except Exception as e:
        return f"{type(e).__name__} {getattr(e, 'status_code', '')}".strip()


def _stored(conn, project_id: int) -> dict[int, int]:
    """Every annotation the server holds for the project: annotation id -> task id."""
    tasks = conn.request("GET", "/api/tasks", params={"project": project_id, "page_size": 1000, "fields": "all"})
    return {a["id"]: t["id"] for t in tasks["tasks"] for a in t.get("annotations") or []}


def test_fuzz_malformed_results_never_stop_a_pull(conn, docroot, tmp_path):
    start = time.monotonic()
    n_sized, n_unsized = 24, 4
    project, tasks, _ = imported_project(conn, docroot, n_sized, size=(24, 32))
    shape = task_shape(tasks[0])
    bare = _import(conn, project.id, [{"image": f"https://images.invalid/{i}.png", "source": f"bare/{i}.png"}
                                      for i in range(n_unsized)])  # no size in the task: it comes from results
    sized, unsized = sized_cases(shape, seed=1), unsized_cases(shape, seed=2)
    plan = [(tasks[i % n_sized]["id"], c) for i, c in enumerate(sized)] + \
           [(bare[i % n_unsized], c) for i, c in enumerate(unsized)]
    valid = {t: valid_mask(shape, 10 + k) for k, t in enumerate([t["id"] for t in tasks] + bare)}
    valid_ids = {t: annotate(conn, t, [brush(m)]) for t, m in valid.items()}
    prepared = time.monotonic()
    with ThreadPoolExecutor(4) as pool:  # the server takes requests in parallel: creation is the slow part
        outcomes = list(pool.map(lambda p: _create(conn, p[0], p[1].result), plan))
    errors = Counter(e for e in outcomes if e)
    stored = set(_stored(conn, project.id)) - set(valid_ids.values())
    created = time.monotonic()
    out = tmp_path / "pulled"
    report = pull(conn, project, PullConfig(out=out, document_root=docroot, page_size=7))
    pulled = time.monotonic()
    quarantine = json.loads((out / "quarantine.json").read_text())
    quarantined = {q["annotation_id"] for q in quarantine}
    print(f"\nmalformed results generated {len(plan)}, refused by the server {len(plan) - len(stored)} (errors "
          f"seen {dict(errors)}), stored {len(stored)}, quarantined {len(quarantined & stored)}; valid annotations "
          f"{len(valid)}, masks pulled {report.masks}; setup {prepared - start:.1f} s, creation "
          f"{created - prepared:.1f} s, pull {pulled - created:.1f} s")
    for error in sorted(errors):
        print(f"  {error}: {sorted({c.name for (_, c), e in zip(plan, outcomes) if e == error})}")
    assert len(plan) >= 200 and report.tasks == len(valid)
    assert None not in quarantined and quarantined == stored, (quarantined ^ stored)
    assert report.masks == len(valid)
    rows = {int(r["annotation_id"]) for r in _provenance(out)}
    assert rows == set(valid_ids.values())
    records = {r.task_id: r for r in PullStore(out, project.schema).records()}
    for task_id, mask in valid.items():
        assert np.array_equal(np.asarray(Image.open(out / records[task_id].mask)), mask), task_id
    assert pull(conn, project, PullConfig(out=out, document_root=docroot, page_size=7)).tasks == 0


def _provenance(out: Path) -> list[dict]:
    import csv
    with (out / "provenance.csv").open() as f:
        return list(csv.DictReader(f))
