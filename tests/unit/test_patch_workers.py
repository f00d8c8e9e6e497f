"""Training patches made by loader processes (`TrainConfig.workers`, for a GPU): the same batches for a seed and a
number of workers, and each worker's augmentation its own (no two workers repeat each other's draws).

The workers are forked from the training process. A test process of this suite also holds the threads of servers
that other tests started, and a fork of such a process can die at birth, so the loaders run in a fresh interpreter
here, as they do under `grainloop train`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from foundation.schema import binary_schema
from ml.augment import AugmentConfig, Augmenter
from ml.data import find_samples, load_samples
from ml.patches import PatchConfig, PatchDataset, epoch_loader
from ml.train import TrainConfig
from ml.train_options import train_config

ROOT = Path(__file__).resolve().parents[2]


def _samples(folder: str):
    return load_samples(find_samples([Path(folder) / "images"], Path(folder) / "masks"), binary_schema())[:3]


def _batches(samples, workers: int, epoch: int = 1, size: int = 32) -> list[torch.Tensor]:
    data = PatchDataset(samples, PatchConfig(size=size, per_epoch=16, class_balanced=False),
                        Augmenter(AugmentConfig(), seed=3), seed=3)
    data.set_epoch(epoch)
    return [x for x, _ in epoch_loader(data, batch_size=4, workers=workers)]


def same_batches_for_a_seed(folder: str) -> None:
    samples = _samples(folder)
    first, again = _batches(samples, workers=2), _batches(samples, workers=2)
    assert len(first) == 4
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, _batches(samples, workers=2, epoch=2)))


def own_augmentations(folder: str) -> None:
    """One image and a patch its size: every patch is the same crop, so only the augmentation tells them apart, and
    batch 0 (worker 0) and batch 1 (worker 1) would be equal were the workers' generators alike."""
    samples = _samples(folder)[:1]
    size = samples[0].image.shape[-1]
    plain = PatchDataset(samples, PatchConfig(size=size, per_epoch=16, class_balanced=False), None, seed=3)
    plain.set_epoch(1)
    assert torch.equal(plain[0][0], plain[5][0])
    batches = _batches(samples, workers=2, size=size)
    assert not torch.equal(batches[0], batches[1])
    assert not torch.equal(batches[0][0], batches[0][1])


@pytest.mark.parametrize("check", ["same_batches_for_a_seed", "own_augmentations"])
def test_loader_workers(synthetic_dataset, check):
    code = f"import sys; from tests.unit.test_patch_workers import {check}; {check}(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, str(synthetic_dataset)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]


def test_workers_is_a_training_option_and_never_negative():
    assert train_config(workers=3).workers == 3
    with pytest.raises(ValueError, match="workers must be 0 or more"):
        TrainConfig(workers=-1)
