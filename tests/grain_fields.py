"""Test fields of grains with a known size distribution: non-overlapping discs whose diameters are drawn from a
log-normal distribution, scattered over a plane larger than the image, so the image frame cuts grains as a
microscope's field cuts a specimen's."""
from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.draw import disk

from foundation.instrument import PixelSize
from ml.edge_correction import add_edge_weights
from ml.instances import instances_from_instance_map
from ml.morphometry import GrainImage, measure


def disc_field(rng: np.random.Generator, shape: tuple[int, int], median: float, sigma: float,
               cover: float = 0.3) -> np.ndarray:
    """An instance map of ``shape`` cut from a plane of discs (log-normal diameters, median ``median`` px, log
    standard deviation ``sigma``) covering about ``cover`` of the plane, one pixel apart at least. Each drawn disc
    is tried at random centres until it fits, largest first, so the sizes keep their distribution exactly."""
    diameters = np.sort(rng.lognormal(np.log(median), sigma, 10_000))[::-1]
    margin = int(np.ceil(diameters.max() / 2)) + 2
    h, w = shape[0] + 2 * margin, shape[1] + 2 * margin
    n = int(cover * h * w / np.mean(np.pi / 4 * diameters**2))
    diameters = np.sort(rng.lognormal(np.log(median), sigma, n))[::-1]
    plane = np.zeros((h, w), np.int32)
    for gid, d in enumerate(diameters, start=1):
        for _ in range(500):
            centre = rng.uniform(0, h), rng.uniform(0, w)
            halo = disk(centre, d / 2 + 1.5, shape=plane.shape)
            if not plane[halo].any():
                plane[disk(centre, d / 2, shape=plane.shape)] = gid
                break
    return plane[margin:margin + shape[0], margin:margin + shape[1]]


def measured_fields(n: int, shape: tuple[int, int], median: float, sigma: float, seed: int,
                    cover: float = 0.3) -> pd.DataFrame:
    """The grain table (with edge weights) of ``n`` seeded disc fields, images named f0, f1, ..."""
    rng = np.random.default_rng(seed)
    tables = []
    for i in range(n):
        labels = disc_field(rng, shape, median, sigma, cover)
        item = GrainImage(f"f{i}", instances_from_instance_map(labels), PixelSize(None))
        tables.append(add_edge_weights(measure(item), labels.shape, None))
    return pd.concat(tables, ignore_index=True)
