"""Helpers shared by the unit and integration tests (fixtures live in conftest.py). Heavy imports stay inside
the functions, so importing this module costs nothing."""
from __future__ import annotations

import time
from pathlib import Path

EMPS_IDS = ["07330c8ea1", "37ce835fb2", "1ecd5c901c", "60feb7de8f", "2e4a3ab627", "427ebc9e15"]  # emps_subset


def random_model_file(path: Path, seed: int = 0, decoder: tuple[int, ...] = (16,) * 5) -> Path:
    """A randomly initialised (seeded) binary U-Net checkpoint saved at path."""
    import torch

    from foundation.schema import binary_schema
    from ml.checkpoint import ModelArtifact, save_model
    from ml.models import ModelConfig, build_model
    from ml.preprocess import PreprocessConfig

    torch.manual_seed(seed)
    config = ModelConfig(decoder_channels=decoder)
    return save_model(path, build_model(config), ModelArtifact(config, binary_schema(), PreprocessConfig()))


def synthetic_items(folder: Path, provenance: dict) -> list:
    """One Incoming per image of a synthetic dataset folder (images/, instances/), in id order."""
    from dataset.store import Incoming

    stems = sorted(p.stem for p in (folder / "images").iterdir())
    return [Incoming(s, next((folder / "images").glob(f"{s}.*")), None, next((folder / "instances").glob(f"{s}.*")),
                     provenance=dict(provenance)) for s in stems]


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Poll predicate until it is truthy or timeout seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if found := predicate():
            return found
        time.sleep(interval)
    return predicate()


def flow_runs(deployment_id, tag: str | None = None) -> list:
    """The Prefect flow runs of one deployment (on the current API), optionally only those with a tag."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
    return [r for r in runs if tag is None or tag in r.tags]


def run_bench(*args: str, env: dict | None = None, timeout: float = 600) -> str:
    """Run `bin/bench ARGS` (a benchmark, the way its documentation runs it); assert it exits 0; its stdout."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([str(root / "bin" / "bench"), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"bin/bench {' '.join(args)}: exit {done.returncode}\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-5000:]}"
    return done.stdout


def emps_like(synthetic: Path, tmp_path: Path) -> Path:
    """The synthetic dataset as EMPS lays itself out: images/ and segmaps/ (instance maps)."""
    out = tmp_path / "emps"
    out.mkdir()
    (out / "images").symlink_to(synthetic / "images")
    (out / "segmaps").symlink_to(synthetic / "instances")
    return out
