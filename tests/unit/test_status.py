"""`grainloop status`: the screen, the JSON and the report from a hand-built LoopStatus; every source unavailable
on an empty loop; and the last cycle's record, written at the end of a cycle and when a step fails."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

import flows.cycle as cycle_module
from flows.cycle_record import CycleRecord, outcome, read_history, read_record, record_path
from flows.status import last_cycle
from flows.status_report import sections, write_report
from flows.status_types import (AnnotatorStats, ChampionStatus, CycleStatus, DatasetStatus, DatasetVersionInfo,
                                LabelingStatus, LoopStatus, QuarantineStatus, ScheduleStatus)
from flows.tracking import SCORE
from foundation.pullrecord import Quarantined

RECORD = CycleRecord("2026-12-02T06:00:00+00:00", "promoted v2", "dataset-v2", "2", "2", synced=8, quarantined=1,
                     preannotated=14, seconds={"sync_annotations": 1.5, "train": 42.0})


def _status(**changes) -> LoopStatus:
    parts = dict(
        collected_at="2026-12-02T07:00:00+00:00", workspace="/lab/loop/workspace",
        labeling=LabelingStatus("sand grains", "http://127.0.0.1:8080", total=40, annotated=16, in_progress=2,
                                skipped=1, with_champion_predictions=21, champion_model_version="seg@v2",
                                annotators=(AnnotatorStats("ana@lab", 10, 41.5), AnnotatorStats("bo@lab", 6, None))),
        quarantine=QuarantineStatus("/lab/pull/quarantine.json",
                                    (Quarantined(7, "label <rock> outside the schema", 70, "img007.png"),)),
        datasets=DatasetStatus((DatasetVersionInfo("dataset-v1", "abc", 8, {"train": 6, "test": 2}, 3_500_000, 0.61),
                                DatasetVersionInfo("dataset-v2", "def", 16, {"train": 12, "test": 4}, 7_200_000))),
        champion=ChampionStatus("seg", "2", "dataset-v2", {SCORE: 0.7123, "iou/grain": 0.7123, "pixel_accuracy": 0.9},
                                {"grainloop.dataset": "dataset-v2"}, {"dataset-v1": 0.61, "dataset-v2": 0.7123}),
        last_cycle=CycleStatus(RECORD),
        schedule=ScheduleStatus("grainloop-cycle/loop", "2026-12-02T08:00:00+00:00"))
    return LoopStatus(**{**parts, **changes})


def _screen(status: LoopStatus) -> str:
    from grainloop.status_commands import render

    console = Console(record=True, width=160)
    console.print(render(status))
    return console.export_text()


def test_the_screen_shows_every_section():
    screen = _screen(_status())
    for expected in ("sand grains", "in progress (draft)", "seg@v2", "ana@lab", "41.5", "outside the schema",
                     "1 standing", "dataset-v2", "train 12, test 4", "6.9 MB", "0.6100", "seg version 2",
                     f"{SCORE}", "0.7123", "grainloop.dataset", "promoted v2", "s train", "42.0",
                     "2026-12-02T08:00:00+00:00"):
        assert expected in screen, expected
    assert "pixel_accuracy" not in screen  # the screen keeps the headline metrics; JSON and HTML hold them all
    assert "not started" in screen and "21" in screen


def test_an_unavailable_source_says_why_and_the_rest_is_still_shown():
    status = _status(labeling=LabelingStatus("sand grains", "http://127.0.0.1:8080",
                                             unavailable="Label Studio at http://127.0.0.1:8080: ConnectError"),
                     champion=ChampionStatus("seg", unavailable="no champion yet"),
                     last_cycle=CycleStatus(unavailable="no cycle recorded yet"),
                     schedule=ScheduleStatus("grainloop-cycle/loop", note="no schedule (no Prefect server)"))
    screen = _screen(status)
    assert "unavailable: Label Studio at http://127.0.0.1:8080: ConnectError" in screen
    assert "unavailable: no champion yet" in screen and "unavailable: no cycle recorded yet" in screen
    assert "no schedule (no Prefect server)" in screen and "dataset-v2" in screen


def test_server_data_on_the_screen_is_never_read_as_markup():
    bad = Quarantined(3, "label [red]rock[/red] outside the schema", 4, "[bold]x.png")
    screen = _screen(_status(quarantine=QuarantineStatus("[q].json", (bad,))))
    assert "[bold]x.png" in screen and "label [red]rock[/red] outside the schema" in screen


def test_json_holds_every_field():
    data = json.loads(json.dumps(_status().to_dict()))
    assert data["labeling"]["not_started"] == 40 - 16 - 2 - 1
    assert data["labeling"]["annotators"][0] == {"name": "ana@lab", "submitted": 10, "median_lead_time_s": 41.5}
    assert data["datasets"]["versions"][1]["splits"] == {"train": 12, "test": 4}
    assert data["champion"]["test_metrics"]["pixel_accuracy"] == 0.9
    assert data["last_cycle"]["record"]["outcome"] == "promoted v2" and data["last_cycle"]["unavailable"] is None
    assert data["schedule"]["next_run"] == "2026-12-02T08:00:00+00:00"


def test_the_report_is_a_png_and_a_self_contained_html_page(tmp_path):
    status = _status(quarantine=QuarantineStatus("q.json", (Quarantined(1, "bad", 2, "<script>x</script>"),)))
    png, html = write_report(status, tmp_path / "status")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.read_text()
    assert "data:image/png;base64," in page and "<table>" in page and "pixel_accuracy" in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # server data is escaped
    empty = _status(labeling=LabelingStatus("p", unavailable="down"), champion=ChampionStatus("seg", unavailable="x"))
    assert write_report(empty, tmp_path / "empty")[0].stat().st_size > 0


def test_sections_name_what_an_empty_table_means():
    status = _status(datasets=DatasetStatus(), labeling=LabelingStatus("p", "u"))
    notes = {s.title: s.note for s in sections(status)}
    assert notes["Dataset versions"] == "no dataset version yet"
    assert notes["Annotators"] == "no submitted annotation yet"


@pytest.fixture()
def idle_loop(tmp_path, monkeypatch):
    """A saved loop configuration whose services were never started (no settings, store, workspace or server)."""
    from flows.demo import DemoConfig, loop_config
    from foundation.schema import binary_schema
    from ml.train_options import train_config

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "PREFECT_API_URL", "GRAINLOOP_LS_URL",
                 "GRAINLOOP_LS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))  # the command's prefect_env leaves it as it is
    return loop_config(DemoConfig(tmp_path / "demo", tmp_path / "images", tmp_path / "masks", train_config()),
                       binary_schema())


def test_status_of_a_loop_with_nothing_running_reports_each_source_unavailable(tmp_path, idle_loop):
    from flows.loop_config import save_loop_config
    from grainloop.cli import app

    loop = idle_loop
    config = save_loop_config(loop, tmp_path / "demo" / "loop.json")
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json", "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[:result.stdout.rindex("}") + 1])
    assert data["labeling"]["unavailable"] and data["champion"]["unavailable"].startswith("no MLflow store")
    assert data["datasets"]["unavailable"].startswith("no workspace repository")
    assert data["last_cycle"]["unavailable"] and data["schedule"]["next_run"] is None
    # no Prefect server, or (in a session whose other tests started one) no schedule of this loop on it
    assert data["schedule"]["note"].startswith("no schedule"), data["schedule"]
    assert data["quarantine"]["entries"] == [] and (tmp_path / "r" / "status.html").exists()
    assert not loop.tracking.local_store.exists()  # looking created no MLflow store


def test_a_served_cycle_refreshes_the_report_and_logs_it_to_mlflow(idle_loop, monkeypatch):
    import flows.serve as serve
    from flows.tracking import TAG_KIND, client

    png, html = serve.refresh_status(idle_loop)
    assert (png.parent, html.name) == (idle_loop.state_dir / serve.STATUS_DIR, "status.html")
    runs = client(idle_loop.tracking).search_runs(
        [client(idle_loop.tracking).get_experiment_by_name(idle_loop.tracking.experiment).experiment_id],
        f"tags.`{TAG_KIND}` = 'status'")
    logged = client(idle_loop.tracking).list_artifacts(runs[0].info.run_id, serve.STATUS_DIR)
    assert len(runs) == 1 and sorted(a.path.split("/")[-1] for a in logged) == ["status.html", "status.png"]

    def broken(loop):
        raise OSError("disk full")

    monkeypatch.setattr(serve, "collect", broken)
    assert serve.refresh_status(idle_loop) is None  # a report that cannot be made never fails the cycle's run


def test_quarantine_and_annotators_are_read_from_what_the_pull_and_label_studio_give(tmp_path):
    from flows.status import annotator_stats, quarantine_status

    path = tmp_path / "quarantine.json"
    path.write_text(json.dumps([{"task_id": 4, "annotation_id": 9, "source": "a.png", "reason": "malformed RLE"},
                                {"task_id": 5, "annotation_id": None, "source": "../x", "reason": "path escape"}]))
    (tmp_path / "records").mkdir()
    for task_id, reason in ((6, "held for review: agreement 0.100 below 0.6 (2 annotations)"), (7, None)):
        (tmp_path / "records" / f"{task_id}.json").write_text(json.dumps(
            {"task_id": task_id, "source": f"{task_id}.png", "tile": None, "mask": None if reason else "m.png",
             "reason": reason}))
    found = quarantine_status(tmp_path)
    assert [(q.task_id, q.annotation_id, q.reason) for q in found.entries] == [(4, 9, "malformed RLE"),
                                                                             (5, None, "path escape")]
    assert found.held == ((6, "6.png", "held for review: agreement 0.100 below 0.6 (2 annotations)"),)
    assert quarantine_status(tmp_path / "none").entries == () and quarantine_status(tmp_path / "none").held == ()
    annotations = [{"created_username": " ana@lab, 1", "lead_time": 10.0}, {"completed_by": 2, "lead_time": 4.0},
                   {"created_username": "ana@lab, 1", "lead_time": 30.0},
                   {"created_username": "ana@lab, 1", "lead_time": 99.0, "was_cancelled": True}]
    assert annotator_stats(annotations) == (AnnotatorStats("ana@lab", 2, 20.0), AnnotatorStats("2", 1, 4.0))


# ---- the last cycle's record ---------------------------------------------------------------------------------


def test_outcome_phrases():
    assert outcome(True, "3", True, 4, 1) == "promoted v3"
    assert outcome(False, "3", True, 4, 1) == "refused v3"
    assert outcome(None, "2", False, 0, 1) == "nothing new"
    assert outcome(None, "2", False, 2, 5) == "nothing new to version (2 of 5 annotations needed)"


@pytest.fixture()
def fake_steps(tmp_path, monkeypatch):
    """run_cycle over stand-in steps: a new dataset version, trained as v3 and promoted."""
    cfg = SimpleNamespace(state_dir=tmp_path / ".grainloop", workspace=tmp_path, min_new_annotations=1, versions=None)
    newest = SimpleNamespace(tag="dataset-v3")
    sync = SimpleNamespace(added=5, updated=1, dropped=[], quarantined=[{"task_id": 9, "reason": "bad"}],
                           edit_cost=0.25, edited=4)
    steps = {"sync_annotations": lambda c: sync, "add_pending": lambda c, n: n,
             "version_dataset": lambda c: SimpleNamespace(version=newest), "latest": lambda v: newest,
             "train": lambda c, v: "3", "evaluate_and_promote": lambda c, t, v: SimpleNamespace(promote=True),
             "preannotate": lambda c: SimpleNamespace(tasks=12), "champion": lambda c: "3"}
    for name, fn in steps.items():
        monkeypatch.setattr(cycle_module, name, fn)
    return cfg


def test_a_cycle_records_what_it_did(fake_steps):
    report = cycle_module.run_cycle(fake_steps)
    record = read_record(fake_steps.state_dir)
    assert record.outcome == "promoted v3" and not record.failed
    assert (record.dataset, record.trained, record.champion) == ("dataset-v3", "3", "3")
    assert (record.synced, record.quarantined, record.preannotated) == (6, 1, 12)
    assert list(record.seconds) == list(report.seconds) == ["sync_annotations", "version_dataset", "train",
                                                            "evaluate_and_promote", "preannotate"]
    assert record.finished_at.endswith("+00:00")
    assert (record.edit_cost, record.edited) == (0.25, 4)
    cycle_module.run_cycle(fake_steps)  # every cycle joins the history: the edit cost per cycle
    history = read_history(fake_steps.state_dir)
    assert len(history) == 2 and history[0] == record and history[1].edit_cost == 0.25
    status = last_cycle(fake_steps.state_dir)
    (edits,) = [s for s in sections(_status(last_cycle=status)) if s.title.startswith("Edit cost")]
    assert len(edits.rows) == 2 and edits.rows[-1][3:] == ("0.2500", "4")


def test_a_failed_step_is_recorded_with_its_error_and_raised(fake_steps, monkeypatch):
    def broken(cfg, version):
        raise RuntimeError("CUDA out of memory\nmore detail")

    monkeypatch.setattr(cycle_module, "train", broken)
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        cycle_module.run_cycle(fake_steps)
    record = read_record(fake_steps.state_dir)
    assert record.failed_step == "train" and record.error == "RuntimeError: CUDA out of memory"
    assert record.outcome == "failed in train: RuntimeError: CUDA out of memory"
    assert list(record.seconds) == ["sync_annotations", "version_dataset", "train"]
    assert not list(record_path(fake_steps.state_dir).parent.glob(".*.tmp"))  # written atomically
