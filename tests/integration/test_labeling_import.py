"""Folder import through local-files storage: formats, viewables, metadata, tiles, idempotency, refusals."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from labeling.importer import ImportConfig, ImportConfigError, import_folder
from labeling.pull import PullConfig, pull
from labeling.regions import brush_results, mask_to_results
from labeling.tiles import TileBox, TilingConfig
from tests.integration.helpers import annotate, new_project, server_counts

pytestmark = pytest.mark.slow


def _folder(root):
    rng = np.random.default_rng(1)
    (root / "nested" / "deeper").mkdir(parents=True)
    tifffile.imwrite(root / "a16.tif", rng.integers(0, 60000, (40, 56), dtype=np.uint16))
    tifffile.imwrite(root / "nested" / "b8.tiff", rng.integers(0, 255, (40, 56), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 255, (40, 56), dtype=np.uint8)).save(root / "nested" / "deeper" / "c.png")
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(root / "d.jpg")
    Image.fromarray(rng.integers(0, 255, (300, 420), dtype=np.uint8)).save(root / "big.png")
    Image.fromarray(rng.integers(0, 255, (40, 56), dtype=np.uint8)).save(root / "copy-of-c.png")
    (root / "copy-of-c.png").write_bytes((root / "nested" / "deeper" / "c.png").read_bytes())
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    os.symlink("/etc/hostname", root / "outside.png")


def test_import_is_idempotent_and_refuses_escapes(conn, docroot):
    project = new_project(conn)
    root = docroot / f"import-{project.id}"
    _folder(root)
    config = ImportConfig(root=root, document_root=docroot, tiling=TilingConfig(256, 32))
    first = import_folder(conn, project, config)
    # 4 small images (the copy shares c.png's sha256) + big.png as 2x2 tiles
    assert first.created == 8 and server_counts(conn, project.id)[0] == 8
    assert first.refused == [("outside.png", "symbolic link leaves the import root")]
    assert [f for f, _ in first.failed] == ["broken.png"]
    again = import_folder(conn, project, config)
    assert again.created == 0 and again.existing == 9 and server_counts(conn, project.id)[0] == 8
    escape = import_folder(conn, project, config, paths=["../../etc/passwd", "nested/../a16.tif"])
    assert [p for p, _ in escape.refused] == ["../../etc/passwd", "nested/../a16.tif"]
    assert server_counts(conn, project.id)[0] == 8


def test_tasks_carry_provenance_and_viewable_images(conn, docroot):
    project = new_project(conn)
    root = docroot / f"import-{project.id}"
    _folder(root)
    import_folder(conn, project, ImportConfig(root=root, document_root=docroot, tiling=TilingConfig(256, 32)))
    tasks = {t["data"]["key"]: t["data"] for t in
             conn.request("GET", "/api/tasks", params={"project": project.id, "page_size": 100})["tasks"]}
    a16 = next(d for d in tasks.values() if d["source"] == "a16.tif")
    assert a16["dtype"] == "uint16" and a16["image"].endswith(".png") and a16["original"].endswith("a16.tif")
    assert len(a16["sha256"]) == 64 and a16["tile"] is None and (a16["height"], a16["width"]) == (40, 56)
    png = conn.http.get(a16["image"])
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert conn.http.get(a16["original"]).status_code == 200
    c = next(d for d in tasks.values() if d["source"].endswith("c.png"))
    assert c["image"] == c["original"]  # an 8-bit PNG is shown as it is, not copied
    tiles = sorted((d["tile"]["y"], d["tile"]["x"]) for d in tasks.values() if d["source"] == "big.png")
    assert tiles == [(0, 0), (0, 164), (44, 0), (44, 164)]


def test_import_root_outside_document_root_is_refused(conn, tmp_path, docroot):
    project = new_project(conn)
    with pytest.raises(ImportConfigError, match="outside"):
        import_folder(conn, project, ImportConfig(root=tmp_path, document_root=docroot))


def test_tile_annotations_map_back_to_the_full_image(conn, docroot, tmp_path):
    project = new_project(conn)
    root = docroot / f"tiles-{project.id}"
    root.mkdir()
    Image.fromarray(np.full((300, 420), 128, np.uint8)).save(root / "wide.png")
    import_folder(conn, project, ImportConfig(root=root, document_root=docroot, tiling=TilingConfig(256, 32)))
    truth = np.zeros((300, 420), np.uint8)
    yy, xx = np.mgrid[:300, :420]
    truth[((yy - 150) ** 2 + (xx - 210) ** 2) < 100 ** 2] = 1  # a grain across all four tiles
    tasks = conn.request("GET", "/api/tasks", params={"project": project.id})["tasks"]
    assert len(tasks) == 4
    for task in tasks:
        crop = TileBox(**task["data"]["tile"]).crop(truth)
        results = brush_results(crop, project.schema) if task["id"] % 2 else mask_to_results(crop, project.schema, 0)
        annotate(conn, task["id"], results)
    out = tmp_path / "pulled"
    report = pull(conn, project, PullConfig(out=out, document_root=docroot))
    assert report.tasks == 4 and not report.quarantined
    full = np.asarray(Image.open(out / "masks" / "wide.png"))
    assert np.array_equal(full, truth)
