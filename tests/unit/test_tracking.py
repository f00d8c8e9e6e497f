"""flows.tracking: configuring one store leaves the environment alone, so the next project finds its own; a
process points mlflow's global URI at a store once, however many clients and runs it asks for."""
import os

from flows.tracking import (CHAMPION, TAG_KIND, URI_VARIABLES, TrackingConfig, alias_version, client, configure, lib,
                            tracked_run)


def test_configure_does_not_steer_later_projects(tmp_path, monkeypatch):
    for name in URI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    first = TrackingConfig.for_project(tmp_path / "a")
    configure(first)
    assert not any(os.environ.get(name) for name in URI_VARIABLES)
    assert lib().get_tracking_uri() == first.tracking_uri  # mlflow itself is pointed at the store
    second = TrackingConfig.for_project(tmp_path / "b")
    assert second.tracking_uri != first.tracking_uri and "/b/" in second.tracking_uri


def test_a_server_named_in_the_environment_stays_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'server.db'}")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    configure(TrackingConfig.for_project(tmp_path / "a", env={}))
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'server.db'}"
    assert "MLFLOW_REGISTRY_URI" not in os.environ


def _count_global_uri_sets(monkeypatch) -> list[str]:
    mlflow, calls = lib(), []
    real = mlflow.set_tracking_uri

    def counted(uri):
        calls.append(uri)
        return real(uri)
    monkeypatch.setattr(mlflow, "set_tracking_uri", counted)
    return calls


def test_a_cycle_sets_the_global_uri_once_per_store(tmp_path, monkeypatch):
    for name in URI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    calls = _count_global_uri_sets(monkeypatch)
    first, second = (TrackingConfig.for_project(tmp_path / p, env={}) for p in ("a", "b"))
    for step in ("train", "evaluate", "promote", "preannotate"):  # each step asks for a client, then logs a run
        assert alias_version(client(first), first.model_name, CHAMPION) is None  # nothing registered yet
        with tracked_run(first, step, {TAG_KIND: step}) as run:
            lib().log_metric("seconds", 1.0)
        assert client(first).get_run(run.info.run_id).data.tags["grainloop.kind"] == step
    assert calls == [first.tracking_uri] and client(first) is client(first)
    assert not any(os.environ.get(name) for name in URI_VARIABLES)
    for _ in range(3):
        configure(second)
        client(second)
    assert calls == [first.tracking_uri, second.tracking_uri]


def test_a_global_uri_moved_elsewhere_is_pointed_back(tmp_path, monkeypatch):
    for name in URI_VARIABLES:  # mlflow's own set_tracking_uri below exports them: undone after the test
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    cfg = TrackingConfig.for_project(tmp_path / "a", env={})
    configure(cfg)
    lib().set_tracking_uri(f"sqlite:///{tmp_path / 'other.db'}")  # someone else's mlflow call
    configure(cfg)
    assert lib().get_tracking_uri() == cfg.tracking_uri
