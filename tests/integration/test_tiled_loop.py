"""Images larger than a tile through the whole loop against the real services (Label Studio, DVC, MLflow, Prefect):
every tile annotated gives one dataset row with the exact full mask, a partly annotated image waits (and says so),
the champion's predictions reach every tile task with the tile's crop, and a deleted tile annotation drops the row.
One loop (two cycles) carries every large image, the 9000x6000 mosaic included; each test checks its part.
"""
from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset.dropped import read_dropped
from dataset.manifest import read_manifest
from flows.annotator import SimulatedAnnotator
from flows.cycle import run_cycle as cycle
from flows.sync import sync_annotations
from labeling.api import Connection, iter_tasks
from ml.io import read_mask
from ml.synthetic import SyntheticConfig, generate
from tests.integration.loop_helpers import demo_setup

pytestmark = pytest.mark.slow


def mosaic(height: int, width: int, piece: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A large SEM-like image and its class map, stitched from distinct synthetic pieces (no banner)."""
    image, truth = np.zeros((height, width), np.uint8), np.zeros((height, width), np.uint8)
    for k, (y, x) in enumerate((y, x) for y in range(0, height, piece) for x in range(0, width, piece)):
        h, w = min(piece, height - y), min(piece, width - x)
        s = generate(SyntheticConfig(height=h, width=w, banner=False, grains=(30, 60), radius=(10, 60)), seed * 1000 + k)
        image[y:y + h, x:x + w], truth[y:y + h, x:x + w] = s.image, s.class_map
    return image, truth


def with_large(sample: Path, out: Path, large: dict[str, tuple[int, int]]) -> Path:
    """The loop's sample images plus large ones (name -> (height, width)), written as TIFF or PNG by suffix."""
    shutil.copytree(sample, out)
    for i, (name, (h, w)) in enumerate(sorted(large.items())):
        image, truth = mosaic(h, w, 1500, seed=100 + i)
        Image.fromarray(image).save(out / "images" / name)
        Image.fromarray(truth).save(out / "masks" / Path(name).with_suffix(".png"))
    return out


def tasks(server, project_id: int) -> list[dict]:
    with Connection.open(server.settings) as conn:
        return list(iter_tasks(conn, project_id, page_size=1000, all_fields=True))


def tiles_of(all_tasks: list[dict], source: str) -> list[dict]:
    return sorted((t for t in all_tasks if t["data"]["source"] == source), key=lambda t: t["id"])


def check_predictions(server, project_id: int, sources: list[str], model_version: str) -> int:
    """Every open tile task of these images holds one prediction of model_version, its tile's size; returns how many."""
    n = 0
    for source in sources:
        for t in tiles_of(tasks(server, project_id), source):
            if t["total_annotations"]:
                continue
            mine = [p for p in t["predictions"] if p["model_version"] == model_version]
            assert len(mine) == 1, (source, t["id"], [p["model_version"] for p in t["predictions"]])
            tile = t["data"]["tile"]
            assert all((r["original_height"], r["original_width"]) == (tile["height"], tile["width"])
                       for r in mine[0]["result"])
            n += 1
    return n


def run_tiled(tmp: Path, sample: Path, server, large: dict[str, tuple[int, int]], partial: set[str],
              downsample: int = 1) -> dict:
    """Cycle 1 on the small images (the champion then pre-annotates every tile), annotate every tile of the large
    images (one tile of those in ``partial``), cycle 2; returns what was measured. ``downsample``: the model sees
    k x k block means, so predicting a mosaic costs k^2 times less; one epoch a cycle (what is tested here is the
    tiling, not the model)."""
    folder = with_large(sample, tmp / "sample", large)
    cfg, loop, project_id = demo_setup(tmp / f"tiled-{uuid.uuid4().hex[:6]}", folder, server)
    preprocess = replace(loop.train.preprocess, downsample=downsample)
    loop = replace(loop, train=replace(loop.train, preprocess=preprocess, epochs=1))
    annotator = SimulatedAnnotator(cfg.truth, loop.schema)
    with Connection.open(server.settings) as conn:
        annotator.annotate(conn, project_id, 100, where=lambda t: not t["data"].get("tile"))
    t0 = time.perf_counter()
    first = cycle(loop)
    seconds = {"cycle 1": time.perf_counter() - t0}
    mv = f"{loop.tracking.model_name}@v{first.champion}"
    all_tasks = tasks(server, project_id)
    tile_counts = {s: len(tiles_of(all_tasks, s)) for s in large}
    predicted = {s: check_predictions(server, project_id, [s], mv) for s in sorted(large)}
    assert predicted == tile_counts  # every tile task: one prediction of the champion, its crop
    with Connection.open(server.settings) as conn:
        for source in large:
            ids = [t["id"] for t in tiles_of(all_tasks, source)][:1 if source in partial else None]
            annotator.annotate(conn, project_id, len(ids), where=lambda t, ids=ids: t["id"] in ids)
    t0 = time.perf_counter()
    second = cycle(loop)
    seconds["cycle 2"] = time.perf_counter() - t0
    assert second.sync.added == len(large) - len(partial) and second.new_version
    assert {w["source"]: (w["annotated"], w["tiles"]) for w in second.sync.waiting} == \
        {s: (1, tile_counts[s]) for s in partial}
    assert json.loads((loop.pull_dir / "waiting.json").read_text()) == second.sync.waiting
    rows = {r.id: r for r in read_manifest(loop.versions.data_dir)}
    for source in large:
        row = rows.get(Path(source).with_suffix("").as_posix())
        if source in partial:
            assert row is None
            continue
        truth = read_mask(cfg.truth / Path(source).with_suffix(".png"))
        assert np.array_equal(read_mask(loop.versions.data_dir / row.mask), truth)  # seams exact
        ids = [t["id"] for t in tiles_of(tasks(server, project_id), source)]
        assert row.ls_task_id == ids[0] and len(row.ls_annotation_ids) == len(ids)
        assert row.annotators
    champion = f"{loop.tracking.model_name}@v{second.champion}"
    open_after = check_predictions(server, project_id, sorted(partial), champion) if partial else 0
    return {"loop": loop, "cfg": cfg, "project_id": project_id, "tiles": tile_counts, "predicted": predicted,
            "open_after": open_after, "seconds": seconds, "second": second}


LARGE = {"large.tif": (2400, 3000), "half.png": (2400, 3000), "mosaic.png": (6000, 9000)}


@pytest.fixture(scope="module")
def tiled(tmp_path_factory, sample, server, prefect_api) -> dict:
    """The loop run once over every large image; half.png gets one tile annotated, the others all of theirs."""
    t0 = time.perf_counter()
    got = run_tiled(tmp_path_factory.mktemp("tiled"), sample, server, LARGE, partial={"half.png"}, downsample=4)
    print(f"tiles {got['tiles']}, predictions on tile tasks {got['predicted']}, seconds {got['seconds']}, "
          f"total {time.perf_counter() - t0:.0f} s")
    return got


def test_a_9000x6000_mosaic_goes_through_the_loop_tile_by_tile(tiled):
    assert tiled["tiles"]["mosaic.png"] == 20 and tiled["predicted"]["mosaic.png"] == 20


def test_a_tiled_image_becomes_one_row_and_a_partly_annotated_one_waits(tiled, server):
    assert tiled["tiles"] == {"large.tif": 4, "half.png": 4, "mosaic.png": 20} and tiled["open_after"] == 3
    # a tile's annotation deleted in Label Studio: the image waits again, its row is dropped with the reason
    loop, project_id = tiled["loop"], tiled["project_id"]
    tile = tiles_of(tasks(server, project_id), "large.tif")[2]
    with Connection.open(server.settings) as conn:
        conn.sdk.annotations.delete(tile["annotations"][0]["id"])
    synced = sync_annotations(loop)
    assert [d[0] for d in synced.dropped] == ["large"]
    assert "waiting for tiles: 3 of 4" in synced.dropped[0][1] and "annotation deleted" in synced.dropped[0][1]
    assert "large" not in {r.id for r in read_manifest(loop.versions.data_dir)}
    assert not (loop.versions.data_dir / "images" / "large.tif").exists()
    history = read_dropped(loop.versions.data_dir)
    assert [(h.id, h.version) for h in history] == [("large", "dataset-v3")]
    assert {w["source"] for w in synced.waiting} == {"large.tif", "half.png"}
