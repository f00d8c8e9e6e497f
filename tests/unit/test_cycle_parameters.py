"""The cycle flow's parameters are a path and a flag: a LoopConfig (which holds the store URI) is saved in the
workspace's state folder and the flow gets that file's path, never the configuration itself."""
from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path

import pytest

import flows.cycle as cycle_module
from flows.demo import DemoConfig, loop_config
from flows.loop_config import load_loop_config
from flows.tracking import TrackingConfig
from foundation.schema import binary_schema
from ml.train_options import train_config


def _loop(tmp_path: Path):
    return loop_config(DemoConfig(tmp_path / "demo", tmp_path / "images", tmp_path / "masks", train_config(epochs=2)),
                       binary_schema())


@pytest.fixture()
def flow_calls(monkeypatch):
    calls = []
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(cycle_module, "cycle_flow", lambda config, wait=False: calls.append((config, wait)) or "ran")
    return calls


def test_a_loop_config_reaches_the_flow_as_the_path_of_its_saved_file(tmp_path, flow_calls):
    loop = _loop(tmp_path)
    assert cycle_module.cycle(loop, wait=True) == "ran"
    (config, wait), = flow_calls
    assert isinstance(config, str) and wait is True
    assert Path(config) == (loop.state_dir / cycle_module.CYCLE_FILE).resolve()
    assert load_loop_config(Path(config)) == loop and "sqlite" not in Path(config).read_text()
    cycle_module.cycle(config)
    assert flow_calls[-1] == (config, False)


def test_a_config_whose_store_would_not_come_back_is_refused(tmp_path, flow_calls):
    loop = _loop(tmp_path)
    elsewhere = replace(loop, tracking=TrackingConfig("postgresql://u:secret@db/mlflow", None))
    with pytest.raises(ValueError, match="round-trip"):
        cycle_module.cycle(elsewhere)
    assert flow_calls == []


def test_no_flow_takes_a_loop_config():
    """Every Prefect flow of the loop takes only plain values (paths, names, flags)."""
    from prefect import Flow

    import flows.preannotate, flows.serve, flows.sync, flows.train  # noqa: E401,F401 (their flows register here)

    found = [obj for mod in (cycle_module, flows.preannotate, flows.serve, flows.sync, flows.train)
             for obj in vars(mod).values() if isinstance(obj, Flow)]
    assert {f.name for f in found} >= {"cycle", "grainloop-cycle", "predict images"}
    for f in found:
        for name, param in inspect.signature(f.fn).parameters.items():
            assert "LoopConfig" not in str(param.annotation) and "TrackingConfig" not in str(param.annotation), \
                f"flow {f.name!r} takes {name}: {param.annotation}"
