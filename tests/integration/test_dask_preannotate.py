"""Scale-out: preannotate's prediction batches on a local Dask cluster of two worker processes (prefect-dask)
give the same masks and scores as Prefect's default task runner."""
from __future__ import annotations

import numpy as np
import pytest

from flows.preannotate import predict_images
from tests.helpers import random_model_file

pytestmark = pytest.mark.slow


def test_a_dask_cluster_of_two_workers_predicts_what_the_default_runner_predicts(sample, tmp_path, prefect_api):
    from distributed import Client, LocalCluster, get_task_stream
    from prefect_dask import DaskTaskRunner

    model = random_model_file(tmp_path / "model.pt")
    paths = sorted((sample / "images").iterdir())[:8]
    ids = [p.name for p in paths]
    plain = predict_images(model, paths, ids, "entropy", batch=3)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = predict_images.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler_address))
        with Client(cluster) as client, get_task_stream(client) as stream:
            spread = on_dask(model, paths, ids, "entropy", batch=3)
        workers_used = {t["worker"] for t in stream.data}
    assert [r[0] for r in spread] == [r[0] for r in plain] == ids
    for a, b in zip(plain, spread):
        assert np.array_equal(a.labels, b.labels) and a.grains is b.grains is None  # no boundary class: no grains
        assert b.summary.scores["entropy"] == pytest.approx(a.summary.scores["entropy"], rel=1e-5, abs=1e-7)
    assert len(workers_used) == 2
