"""Patch sampling from large images for training: random or class-balanced, reproducible per epoch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from ml.box import Box
from ml.data import Sample
from ml.io import ArraySource
from ml.preprocess import apply, reflect_indices
from ml.targets import IGNORE_INDEX

Augment = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def run_seed(seed: int, step: int) -> int:
    """The seed of one epoch (or step) of a run: the same for a seed and step in a resumed run as in a whole one."""
    return seed * 100_003 + step


@dataclass(frozen=True)
class PatchConfig:
    size: int = 256
    per_epoch: int = 256
    class_balanced: bool = True  # centre patches on a pixel of a uniformly chosen class present in the image
    max_index_pixels: int = 4096  # pixels remembered per class and image for balanced sampling


def crop_target(target: np.ndarray, box: Box, downsample: int = 1) -> np.ndarray:
    """Crop a target (box in model pixels) with the reflection preprocessing applies to the image;
    downsampled targets take the centre pixel of each k x k block."""
    k = downsample
    rows = reflect_indices(box.y0 * k, box.y1 * k, 0, target.shape[0])[k // 2 :: k]
    cols = reflect_indices(box.x0 * k, box.x1 * k, 0, target.shape[1])[k // 2 :: k]
    return target[np.ix_(rows, cols)]


def _class_pixels(target: np.ndarray, limit: int, rng: np.random.Generator) -> dict[int, np.ndarray]:
    """A bounded random subset of flat pixel indices for each class present (ignored pixels left out)."""
    flat = target.ravel()
    out = {}
    for c in np.unique(flat):
        if c == IGNORE_INDEX:
            continue
        idx = np.flatnonzero(flat == c)
        out[int(c)] = idx if idx.size <= limit else rng.choice(idx, limit, replace=False)
    return out


class PatchDataset(Dataset):
    """``per_epoch`` patches drawn from samples; call ``set_epoch`` first: same epoch, same patches."""

    def __init__(self, samples: Sequence[Sample], cfg: PatchConfig, augment: Augment | None = None, seed: int = 0):
        self.samples, self.cfg, self.augment, self.seed = list(samples), cfg, augment, seed
        rng = np.random.default_rng([seed, 7])
        self._pixels = [{} if s.target is None else _class_pixels(s.target, cfg.max_index_pixels, rng)
                        for s in self.samples]  # an unlabeled sample has none: its patches are uniform
        self._weights = np.array([s.image.shape[-2] * s.image.shape[-1] for s in self.samples], dtype=float)
        self._weights /= self._weights.sum()
        self._boxes: list[tuple[int, Box]] = []
        self._augment_seed = seed

    def set_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch])
        picks = rng.choice(len(self.samples), self.cfg.per_epoch, p=self._weights)
        self._boxes = [(int(i), self._box(int(i), rng)) for i in picks]
        self._augment_seed = run_seed(self.seed, epoch)
        if hasattr(self.augment, "reseed"):
            self.augment.reseed(self._augment_seed)

    def _box(self, i: int, rng: np.random.Generator) -> Box:
        """A patch box in model pixels."""
        k = self.samples[i].state.downsample
        h, w = self.samples[i].state.model_shape
        p = self.cfg.size
        if self.cfg.class_balanced and self._pixels[i]:
            pixels = self._pixels[i][int(rng.choice(list(self._pixels[i])))]
            cy, cx = divmod(int(rng.choice(pixels)), self.samples[i].image.shape[-1])
            y, x = cy // k - p // 2, cx // k - p // 2
        else:
            y, x = int(rng.integers(0, max(h - p, 0) + 1)), int(rng.integers(0, max(w - p, 0) + 1))
        y = int(np.clip(y, min(0, h - p), max(h - p, 0)))
        x = int(np.clip(x, min(0, w - p), max(w - p, 0)))
        return Box(y, y + p, x, x + p)

    def __len__(self) -> int:
        return self.cfg.per_epoch

    def image(self, k: int) -> np.ndarray:
        """Patch k's preprocessed (C, h, w) image, before augmentation."""
        i, box = self._boxes[k]
        return apply(ArraySource(self.samples[i].image), self.samples[i].state, box)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        i, box = self._boxes[k]
        s = self.samples[i]
        image = self.image(k)
        target = crop_target(s.target, box, s.state.downsample)
        if self.augment is not None:
            hwc, target = self.augment(np.ascontiguousarray(image.transpose(1, 2, 0)), target)
            image = hwc.transpose(2, 0, 1) if hwc.ndim == 3 else hwc[None]
        return torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(target.astype(np.int64))


def _reseed_worker(worker_id: int) -> None:
    """A loader process's copy of the augmentation gets its own seed from the epoch's and the worker's id."""
    data = get_worker_info().dataset
    if hasattr(data.augment, "reseed"):
        data.augment.reseed(data._augment_seed * 1_009 + worker_id + 1)


def epoch_loader(data: PatchDataset, batch_size: int, workers: int = 0) -> DataLoader:
    """The batches of one epoch's patches (call ``set_epoch`` first), in order. With ``workers`` processes making
    them (a GPU outpaces one CPU core), each reseeds its augmentation by its id: a run stays the same for a seed
    and a number of workers, though not across numbers of workers."""
    return DataLoader(data, batch_size=batch_size, shuffle=False, drop_last=True, num_workers=workers,
                      worker_init_fn=_reseed_worker if workers else None)
