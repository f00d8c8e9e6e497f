"""The ML backend's predictor (flows/backend_model.py) without services: the registry and the download are
replaced by a random model file. Tiles get their crop of the source's prediction, untrusted task data gets no
prediction and never an error, a repeat within the TTL is not answered twice, a promotion is reported."""
from __future__ import annotations

import pytest

import flows.backend_model as backend_model
from flows.backend_model import ChampionPredictor, PredictorConfig, group_tasks, project_of, valid_tile
from flows.loop_config import LabelingTarget, LoopConfig
from flows.task_predictions import inputs, load_predictor, predict_sources, task_items
from flows.tracking import TrackingConfig
from foundation.schema import binary_schema
from labeling.projects import ProjectRef
from labeling.push import PushConfig, payload
from ml.synthetic import SyntheticConfig, write_dataset
from ml.train_options import train_config
from tests.helpers import random_model_file


@pytest.fixture()
def loop(tmp_path, monkeypatch) -> LoopConfig:
    write_dataset(tmp_path / "set", 1, SyntheticConfig(height=96, width=128), seed=3)
    images = tmp_path / "set" / "images"
    model = random_model_file(tmp_path / "model.pt")
    versions = iter(["3"] * 2 + ["4"] * 100)  # promoted at the third read
    monkeypatch.setattr(backend_model, "champion", lambda cfg: next(versions))
    monkeypatch.setattr(backend_model, "checkpoint", lambda tracking, version, dest: model)
    target = LabelingTarget(tmp_path / "ls.json", "p", images, tmp_path)
    return LoopConfig(tmp_path / "ws", target, binary_schema(), TrackingConfig("sqlite:///unused.db", None),
                      train_config(), strategy="entropy")


def task(task_id, source, tile=None) -> dict:
    return {"id": task_id, "data": {"source": source, "tile": tile}}


def test_tiles_get_their_crop_and_bad_tasks_no_prediction(loop):
    source = sorted(p.name for p in loop.labeling.images.iterdir())[0]
    good = [task(1, source), task(2, source, {"y": 0, "x": 0, "height": 64, "width": 64}),
            task(3, source, {"y": 32, "x": 64, "height": 64, "width": 64})]
    bad = [task(4, "../" + source), task(5, source, {"y": -1, "x": 0, "height": 8, "width": 8}),
           task(6, source, {"y": 64, "x": 0, "height": 64, "width": 64}), task(7, "missing.png"),
           task("8", source), "not a task", task(9, None), task(10, source, {"y": 0, "x": 0, "height": True,
                                                                              "width": 8, "z": 1})]
    predictor = ChampionPredictor(loop, PredictorConfig(refresh_s=60))
    results = predictor.predict(good + bad, "1.17000")
    assert [len(r) for r in results] == [1, 1, 1] + [0] * len(bad)
    assert {r[0]["model_version"] for r in results[:3]} == {"grainloop-segmentation@v3"}

    model, artifact = load_predictor(random_model_file(loop.workspace / "same.pt"))  # as the batch path loads it
    predicted = predict_sources(model, artifact, [inputs(loop, source)], [source], loop.strategy)
    items, _ = task_items({source: good}, predicted, loop.strategy)
    expected = payload(items, ProjectRef(0, "p", loop.schema), PushConfig("grainloop-segmentation@v3"))
    strip = [[{k: v for k, v in region.items() if k != "id"} for region in p["result"]] for p in expected]
    assert [[{k: v for k, v in region.items() if k != "id"} for region in r[0]["result"]] for r in results[:3]] == strip

    assert predictor.predict(good, "1.17000") == [[], [], []]  # answered moments ago: not again


def test_a_repeat_after_the_ttl_is_answered_and_a_promotion_is_reported(loop):
    source = sorted(p.name for p in loop.labeling.images.iterdir())[0]
    seen = []
    predictor = ChampionPredictor(loop, PredictorConfig(refresh_s=0, answered_ttl_s=0), on_change=seen.append)
    first = predictor.predict([task(1, source)])
    again = predictor.predict([task(1, source)])
    assert len(first[0]) == len(again[0]) == 1
    assert predictor.model_version() == "grainloop-segmentation@v4" and seen == ["grainloop-segmentation@v4"]


def test_requests_of_another_project_or_without_a_champion_get_nothing(loop, monkeypatch):
    source = sorted(p.name for p in loop.labeling.images.iterdir())[0]
    assert ChampionPredictor(loop, PredictorConfig(project_id=5)).predict([task(1, source)], "6.1") == [[]]
    monkeypatch.setattr(backend_model, "champion", lambda cfg: None)
    idle = ChampionPredictor(loop)
    assert idle.predict([task(1, source)]) == [[]] and idle.model_version() == ""
    assert idle.predict("not a list") == []


def test_task_data_checks():
    assert valid_tile(None) and valid_tile({"y": 0, "x": 4, "height": 2, "width": 3})
    assert not valid_tile({"y": 0, "x": 4, "height": 0, "width": 3}) and not valid_tile([0, 0, 1, 1])
    assert not valid_tile({"y": 0.5, "x": 4, "height": 2, "width": 3})
    assert list(group_tasks([task(1, "a.png"), task(2, "a.png"), task(3, "")])) == ["a.png"]
    assert project_of("12.1700000000") == 12 and project_of(None) is None and project_of("x.1") is None
