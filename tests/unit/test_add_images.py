"""`grainloop add`'s linking: new images into the loop's image folder, their further detector channels into the
channel folders under the same relative paths, and a clear refusal when a channel lacks an image."""
from pathlib import Path

import pytest

from flows.add import link_in
from flows.initialize import InitError
from flows.loop_config import LabelingTarget, LoopConfig
from flows.tracking import TrackingConfig
from foundation.schema import binary_schema
from ml.train import TrainConfig


def _loop(tmp_path: Path, channels: int) -> LoopConfig:
    images = tmp_path / "lab" / "se"
    folders = tuple(tmp_path / "lab" / f"c{k}" for k in range(channels))
    for f in (images, *folders):
        f.mkdir(parents=True)
    target = LabelingTarget(tmp_path / "ls.json", "lab", images, tmp_path / "lab", channels=folders)
    return LoopConfig(tmp_path / "ws", target, binary_schema(), TrackingConfig.for_project(tmp_path / "ws", env={}),
                      TrainConfig())


def _files(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    return root


def test_added_images_bring_their_channels_along(tmp_path):
    loop = _loop(tmp_path, 1)
    batch = _files(tmp_path / "new" / "batch2", "a.tif", "deep/b.png")
    bse = _files(tmp_path / "new-bse", "a.tif", "deep/b.png")
    link_in(loop, [batch], [bse])
    assert (loop.labeling.images / "batch2" / "deep" / "b.png").is_file()
    assert (loop.labeling.channels[0] / "batch2" / "deep" / "b.png").read_bytes() == b"deep/b.png"
    single = _files(tmp_path / "one", "late.tif")
    link_in(loop, [single / "late.tif"], [_files(tmp_path / "one-bse", "late.tif")])
    assert (loop.labeling.channels[0] / "late.tif").is_file()


def test_a_missing_channel_file_or_folder_is_refused_before_anything_is_linked(tmp_path):
    loop = _loop(tmp_path, 1)
    batch = _files(tmp_path / "batch", "a.tif", "b.tif")
    with pytest.raises(InitError, match="b.tif is missing"):
        link_in(loop, [batch], [_files(tmp_path / "bse", "a.tif")])
    assert not (loop.labeling.images / "batch").exists()
    with pytest.raises(InitError, match="1 further channel"):
        link_in(loop, [batch], [tmp_path / "bse", tmp_path / "bse"])
