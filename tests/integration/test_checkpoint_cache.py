"""The champion's checkpoint cached from real MLflow (SQLite store, local artifacts): reused while intact, downloaded
again when the cached file is corrupt, truncated, unreadable or has no recorded digest."""
from __future__ import annotations

import os

import pytest

from flows.evaluation import cached_intact, checkpoint
from flows.registry import log_trained
from flows.tracking import TrackingConfig
from foundation.digest import sha256_file
from ml.checkpoint import load_model
from ml.train_options import train_config
from tests.helpers import random_model_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    project = tmp_path_factory.mktemp("ckpt-project")
    tracking = TrackingConfig.for_project(project, env={})
    model = random_model_file(project / "model.pt")
    logged = log_trained(tracking, model, train_config(epochs=1, decoder_channels=(16,) * 5), {"mean_fg_iou": 0.5})
    return tracking, logged.version, sha256_file(model)


def test_an_intact_cached_checkpoint_is_reused(registered, tmp_path):
    tracking, version, digest = registered
    first = checkpoint(tracking, version, tmp_path)
    assert sha256_file(first) == digest and cached_intact(first)
    inode = first.stat().st_ino
    assert checkpoint(tracking, version, tmp_path).stat().st_ino == inode  # no second download


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "no-digest", "bad-digest"])
def test_a_damaged_cached_checkpoint_is_downloaded_again(registered, tmp_path, damage):
    tracking, version, digest = registered
    cached = checkpoint(tracking, version, tmp_path)
    data = cached.read_bytes()
    if damage == "truncate":  # a copy or disk that gave out part-way
        cached.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        cached.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    elif damage == "empty":
        cached.write_bytes(b"")
    elif damage == "no-digest":  # a cache from before the digest was recorded, or a crash before it was written
        cached.write_bytes(data[:-1])
        cached.with_name(cached.name + ".sha256").unlink()
    else:
        cached.with_name(cached.name + ".sha256").write_bytes(b"\xff\xfe")
    assert not cached_intact(cached)
    again = checkpoint(tracking, version, tmp_path)
    assert again == cached and sha256_file(again) == digest and cached_intact(again)
    load_model(again)  # and it loads


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_cached_checkpoint_is_downloaded_again(registered, tmp_path):
    tracking, version, digest = registered
    cached = checkpoint(tracking, version, tmp_path)
    cached.chmod(0)
    assert sha256_file(checkpoint(tracking, version, tmp_path)) == digest
