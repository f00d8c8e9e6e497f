"""Shared set-up of the labeling benchmarks: a Label Studio server (the settings file's, or a fresh one) and
synthetic 1024x768 grain masks. Not a benchmark itself."""
from __future__ import annotations

import argparse
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks._cli import parse_args
from labeling.server import ServerConfig, free_port, start, stop
from labeling.settings import load_settings


SMOKE = {"tasks": 6, "height": 96, "width": 128}


def arguments(description: str, argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--settings", type=Path, help="reuse this server (settings file); default: start one")
    return parse_args(parser, SMOKE, argv)


@contextmanager
def server(settings_file: Path | None, document_root: Path | None = None):
    """The settings file's server, or a fresh one serving local files from document_root (default: its own
    temporary folder), stopped at the end."""
    if settings_file:
        yield load_settings(settings_file)
        return
    with tempfile.TemporaryDirectory() as tmp:
        config = ServerConfig(data_dir=Path(tmp) / "data", document_root=document_root or Path(tmp), port=free_port())
        settings = start(config)
        try:
            yield settings
        finally:
            stop(settings.pid)


def grain_masks(n: int, height: int, width: int, grains: int = 60, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    masks = []
    for _ in range(n):
        mask = np.zeros((height, width), np.uint8)
        for _ in range(grains):
            cy, cx, ry, rx = rng.integers(0, height), rng.integers(0, width), rng.integers(8, 40), rng.integers(8, 40)
            mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = 1
        masks.append(mask)
    return masks
