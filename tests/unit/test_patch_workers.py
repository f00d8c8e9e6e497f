"""Training patches made by loader processes (`TrainConfig.workers`, for a GPU): the same batches for a seed and a
number of workers, and each worker's augmentation its own (no two workers repeat each other's draws)."""
from __future__ import annotations

import pytest
import torch

from foundation.schema import binary_schema
from ml.augment import AugmentConfig, Augmenter
from ml.data import find_samples, load_samples
from ml.patches import PatchConfig, PatchDataset, epoch_loader
from ml.train import TrainConfig
from ml.train_options import train_config


def _batches(samples, workers: int, epoch: int = 1, size: int = 32) -> list[torch.Tensor]:
    data = PatchDataset(samples, PatchConfig(size=size, per_epoch=16, class_balanced=False),
                        Augmenter(AugmentConfig(), seed=3), seed=3)
    data.set_epoch(epoch)
    return [x for x, _ in epoch_loader(data, batch_size=4, workers=workers)]


@pytest.fixture(scope="module")
def samples(synthetic_dataset):
    return load_samples(find_samples([synthetic_dataset / "images"], synthetic_dataset / "masks"), binary_schema())[:3]


def test_workers_give_the_same_batches_for_a_seed(samples):
    first, again = _batches(samples, workers=2), _batches(samples, workers=2)
    assert len(first) == 4
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, _batches(samples, workers=2, epoch=2)))


def test_each_worker_draws_its_own_augmentations(samples):
    """One image and a patch its size: every patch is the same crop, so only the augmentation tells them apart, and
    batch 0 (worker 0) and batch 1 (worker 1) would be equal were the workers' generators alike."""
    size = samples[0].image.shape[-1]
    plain = PatchDataset(samples[:1], PatchConfig(size=size, per_epoch=16, class_balanced=False), None, seed=3)
    plain.set_epoch(1)
    assert torch.equal(plain[0][0], plain[5][0])
    batches = _batches(samples[:1], workers=2, size=size)
    assert not torch.equal(batches[0], batches[1])
    assert not torch.equal(batches[0][0], batches[0][1])


def test_workers_is_a_training_option_and_never_negative():
    assert train_config(workers=3).workers == 3
    with pytest.raises(ValueError, match="workers must be 0 or more"):
        TrainConfig(workers=-1)
