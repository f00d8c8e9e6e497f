"""Datasets on disk: pairing images with masks, loading with every bad file reported, deterministic splits."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from rich.progress import track

from foundation.schema import LabelSchema
from ml.io import ImageReadError, list_images, read_channels, read_mask
from ml.preprocess import PreprocessConfig, PreprocessState, fit
from ml.targets import MaskValueError, make_target

MASK_KINDS = ("class", "instance")


class DatasetLoadError(ValueError):
    """Some files of a dataset could not be used; ``problems`` lists every one with its reason."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = "\n".join(f"  {path}: {reason}" for path, reason in problems)
        super().__init__(f"{len(problems)} bad file(s) in the dataset:\n{lines}")


@dataclass(frozen=True)
class SampleFiles:
    id: str
    images: tuple[Path, ...]  # one file per input channel group, same field of view
    mask: Path | None
    instances: Path | None = None  # an instance map beside a class map: the grains a boundary class is drawn from


@dataclass
class Sample:
    """One image ready for training or evaluation: raw pixels, preprocessing state and target."""

    id: str
    image: np.ndarray  # (C, H, W) as stored
    state: PreprocessState
    target: np.ndarray | None  # (H, W) uint8 with IGNORE_INDEX in the banner
    instances: np.ndarray | None = None


def _by_stem(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).with_suffix("").as_posix(): p for p in list_images(folder)}


def find_samples(image_dirs: Sequence[Path], mask_dir: Path | None = None) -> list[SampleFiles]:
    """Pair files by relative path without suffix; several image folders stack as channels."""
    channel_maps = [_by_stem(Path(d)) for d in image_dirs]
    masks = _by_stem(Path(mask_dir)) if mask_dir else {}
    ids = sorted(set.intersection(*(set(m) for m in channel_maps)))
    problems = [(str(m[i]), "no matching file in every channel folder") for m in channel_maps for i in set(m) - set(ids)]
    if mask_dir:
        problems += [(str(channel_maps[0][i]), f"no mask in {mask_dir}") for i in ids if i not in masks]
        problems += [(str(masks[i]), "mask without an image") for i in set(masks) - set(ids)]
    if problems:
        raise DatasetLoadError(sorted(problems))
    return [SampleFiles(i, tuple(m[i] for m in channel_maps), masks.get(i)) for i in ids]


def with_instance_files(files: Sequence[SampleFiles], folder: Path | None) -> list[SampleFiles]:
    """The files with the instance map named by their id in ``folder`` (any image suffix), where it has one."""
    found = _by_stem(Path(folder)) if folder is not None and Path(folder).is_dir() else {}
    return [replace(f, instances=found[f.id]) if f.id in found else f for f in files]


def _masks(files: SampleFiles, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    mask = read_mask(files.mask)
    if kind == "instance":
        return (mask > 0).astype(np.uint8), mask.astype(np.int32)
    if files.instances is None:
        return mask, None
    instances = read_mask(files.instances).astype(np.int32)
    if instances.shape != mask.shape:
        raise ImageReadError(files.instances, f"instance map size {instances.shape} differs from mask size "
                                              f"{mask.shape}")
    return mask, instances


def load_sample(files: SampleFiles, schema: LabelSchema, cfg: PreprocessConfig, mask_kind: str = "class") -> Sample:
    image = read_channels(files.images)
    state = fit(image, cfg)
    if files.mask is None:
        return Sample(files.id, image, state, None)
    class_map, instances = _masks(files, mask_kind)
    if class_map.shape != image.shape[1:]:
        raise ImageReadError(files.mask, f"mask size {class_map.shape} differs from image size {image.shape[1:]}")
    try:
        target = make_target(class_map, schema, instances, state.banner)
    except MaskValueError as exc:
        raise ImageReadError(files.mask, str(exc)) from exc
    return Sample(files.id, image, state, target, instances)


def check_mask_kind(kind: str) -> str:
    """The kind, or a ValueError listing the valid ones."""
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; choose one of: {', '.join(MASK_KINDS)}")
    return kind


def load_samples(files: Sequence[SampleFiles], schema: LabelSchema, cfg: PreprocessConfig = PreprocessConfig(),
                 mask_kind: str = "class", progress: bool = False) -> list[Sample]:
    """Load every sample; if any file is bad, raise one DatasetLoadError listing them all."""
    check_mask_kind(mask_kind)
    samples, problems = [], []
    for f in track(files, description="loading images", disable=not progress):
        try:
            samples.append(load_sample(f, schema, cfg, mask_kind))
        except ImageReadError as exc:
            problems.append((str(exc.path), exc.reason))
    if problems:
        raise DatasetLoadError(problems)
    return samples


def split_of(key: str, val_fraction: float, salt: str = "grainloop") -> str:
    """'val' or 'train' by hashing a stable key: adding images never moves an existing one."""
    h = int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


def split_samples(samples: Sequence[Sample], val_fraction: float) -> tuple[list[Sample], list[Sample]]:
    train = [s for s in samples if split_of(s.id, val_fraction) == "train"]
    val = [s for s in samples if split_of(s.id, val_fraction) == "val"]
    return train, val
