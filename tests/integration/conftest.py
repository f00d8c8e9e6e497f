"""A real Label Studio 1.23.2 for the labeling tests: started once per session, the way `grainloop labelstudio
up` starts it (own virtual environment, SQLite in a temporary data folder, a free port), stopped at the end."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from labeling.api import Connection
from labeling.server import ServerConfig, ServerError, free_port, start, stop
from labeling.settings import LabelStudioSettings, save_settings



@dataclass
class Server:
    config: ServerConfig
    settings: LabelStudioSettings
    settings_file: Path

    def restart(self) -> None:
        """Start again on the same port and data folder (after a test stopped it)."""
        if self.settings.pid:
            stop(self.settings.pid)
        for attempt in range(5):  # the killed server's socket may take a moment to close
            try:
                self.settings = start(self.config)
                break
            except ServerError:
                if attempt == 4:
                    raise
                time.sleep(2)
        save_settings(self.settings, self.settings_file)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    base = tmp_path_factory.mktemp("labelstudio")
    config = ServerConfig(data_dir=base / "data", document_root=base / "docroot", port=free_port())
    config.document_root.mkdir()
    settings = start(config)
    handle = Server(config, settings, base / "labelstudio.json")
    save_settings(settings, handle.settings_file)
    yield handle
    if handle.settings.pid:
        stop(handle.settings.pid)


@pytest.fixture()
def conn(server: Server):
    with Connection.open(server.settings) as c:
        yield c


@pytest.fixture()
def docroot(server: Server) -> Path:
    return server.config.document_root


@pytest.fixture(scope="session")
def prefect_api():
    """A temporary Prefect API server (and database) for the flow tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> Path:
    """16 synthetic SEM grain images with class and instance maps, for the loop tests."""
    from ml.synthetic import SyntheticConfig, write_dataset

    out = tmp_path_factory.mktemp("loop-sample")
    write_dataset(out, 16, SyntheticConfig(height=96, width=128), seed=11)
    return out


@pytest.fixture()
def repo(tmp_path):
    """An empty git + DVC repository with a local remote, for dataset versions."""
    from dataset.versioning import RemoteConfig, VersionConfig, init

    cfg = VersionConfig(tmp_path / "repo")
    cfg.root.mkdir()
    init(cfg, RemoteConfig(url=str(tmp_path / "remote")))
    return cfg
