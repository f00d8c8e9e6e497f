"""An annotator who draws one region per grain (real Label Studio): the sync gives each image whose touching grains
the class map merges an instance map in the dataset, which a boundary model's training reads (issue 14)."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
import tifffile

from dataset.manifest import read_manifest
from flows.annotator import SimulatedAnnotator
from flows.sync import sync_annotations
from labeling.api import Connection
from labeling.components import label
from ml.io import read_mask, write_mask
from tests.integration.loop_helpers import demo_setup

pytestmark = pytest.mark.slow


def test_grains_drawn_one_region_each_reach_the_dataset_as_instances(tmp_path, sample, server, prefect_api):
    truth = tmp_path / "instance-truth"
    for tif in sorted((sample / "instances").glob("*.tif")):
        write_mask(truth / f"{tif.stem}.png", tifffile.imread(tif))
    cfg, loop, project_id = demo_setup(tmp_path / f"grains-{uuid.uuid4().hex[:6]}", sample, server)
    with Connection.open(server.settings) as conn:
        SimulatedAnnotator(truth, loop.schema, instances=True).annotate(conn, project_id, 5)
    assert sync_annotations(loop).added == 5
    data = loop.versions.data_dir
    rows = read_manifest(data)
    split = [r for r in rows if r.instances]
    assert split, "no image of the sample has touching grains drawn apart"
    for row in split:
        grains, mask = read_mask(data / row.instances), read_mask(data / row.mask)
        assert np.array_equal(grains > 0, mask > 0)
        assert len(np.unique(grains)) - 1 > label(mask > 0)[1]  # more grains than the class map's components
        expected = len(np.unique(read_mask(truth / f"{row.id}.png"))) - 1
        assert len(np.unique(grains)) - 1 == expected  # every grain of the truth, each its own id
