"""flows.tracking: configuring one store leaves the environment alone, so the next project finds its own."""
import os

from flows.tracking import URI_VARIABLES, TrackingConfig, configure, lib


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
