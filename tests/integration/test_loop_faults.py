"""Faults and budgets of the loop against the real services, each on a workspace of its own (apart from
test_loop.py's shared two cycles, so that bin/test's parallel workers run them side by side): Label Studio killed
in the middle of a sync, and a training stopped by its time budget that `dvc repro` replays."""
from __future__ import annotations

from dataclasses import replace

import pytest

from labeling.api import Connection
from labeling.settings import save_settings
from flows.demo import settings_file
from tests.integration.loop_helpers import demo_setup, replayed_weights

pytestmark = pytest.mark.slow


def test_label_studio_killed_mid_sync_then_a_rerun_loses_and_doubles_nothing(tmp_path, sample, server, prefect_api,
                                                                            monkeypatch):
    import flows.sync as sync
    from flows.annotator import SimulatedAnnotator
    from flows.cycle import version_dataset
    from labeling.lifecycle import down
    from dataset.manifest import read_manifest

    cfg, loop, project_id = demo_setup(tmp_path / "killed", sample, server)
    with Connection.open(server.settings) as conn:
        labeled = SimulatedAnnotator(cfg.truth, loop.schema).annotate(conn, project_id, 6)
    real_pull = sync.pull

    def pull_and_die(conn, project, config):  # two tasks a page; the server dies after the first page
        return real_pull(conn, project, replace(config, page_size=2), on_page=lambda page: down(server.settings_file))

    monkeypatch.setattr(sync, "pull", pull_and_die)
    monkeypatch.setattr(sync, "pull_annotations", sync.pull_annotations.with_options(retries=0))
    with pytest.raises(Exception):
        sync.sync_annotations(loop)
    assert len(list((loop.pull_dir / "records").glob("*.json"))) == 2  # one page got through
    server.restart()
    save_settings(server.settings, settings_file(cfg))
    monkeypatch.setattr(sync, "pull", real_pull)
    rerun = sync.sync_annotations(loop)
    assert rerun.added == 6 and rerun.skipped == []
    assert sync.sync_annotations(loop).added == 0
    rows = read_manifest(loop.versions.data_dir)
    assert len(rows) == 6 and len({r.ls_task_id for r in rows}) == 6 and {r.ls_task_id for r in rows} == set(labeled)
    assert version_dataset(loop).version.tag == "dataset-v1"
    assert version_dataset(loop).version is None  # nothing new: no second version


def test_a_training_stopped_by_its_time_budget_replays_by_the_epochs_it_ran(tmp_path, sample, server, prefect_api):
    from flows.annotator import SimulatedAnnotator
    from flows.cycle import version_dataset
    from flows.sync import sync_annotations
    from flows.train import train

    cfg, loop, project_id = demo_setup(tmp_path / "budget", sample, server)
    loop = replace(loop, train=replace(loop.train, max_minutes=1e-4))  # stops after the first epoch, whatever it took
    with Connection.open(server.settings) as conn:
        SimulatedAnnotator(cfg.truth, loop.schema).annotate(conn, project_id, 6)
    sync_annotations(loop)
    version = version_dataset(loop).version
    train(loop, version)
    record, replayed, registered = replayed_weights(loop, version.tag, tmp_path)
    assert record["stopped"] == "time_budget" and record["epochs_run"] == 1 and record["configured_epochs"] == 3
    assert record["budget_minutes"] == 1e-4 and record["warm_start_from"] is None
    assert replayed == registered
