"""Serial-section stacks (FIB-SEM, PFIB-SEM): reading one detector's stack and the 2.5D view of a slice.

A stack is one detector's slices, (S, H, W): a multi-page TIFF (one page a slice) or a folder of 2-D slice images
in file-name order. Several detectors of the same stack have the same slice count and size. The 2.5D view of slice
k stacks, per detector, the slices k, k-1, k+1 (k-2, k+2, ... for wider contexts) as channels; slices beyond the
ends are the nearest end slice (replicate), so every slice has the same channel count. The centre slice of the
first detector is always channel 0: it is what an annotator is shown, the other channels are the model's context.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import tifffile

from foundation.semimage import ImageReadError, first_plane, is_image, is_tiff, read_pixels


def read_stack(path: Path | str) -> np.ndarray:
    """One detector's stack as (S, H, W): a multi-page TIFF, a single image (one slice) or a folder of slices."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and is_image(p))
        if not files:
            raise ImageReadError(path, "no slice images in the folder")
        slices = [_grey(read_pixels(p), p) for p in files]
        shapes = {s.shape for s in slices}
        if len(shapes) > 1:
            raise ImageReadError(path, f"slices differ in size: {sorted(shapes)}")
        return np.stack(slices)
    if is_tiff(path) and path.is_file():
        try:
            with tifffile.TiffFile(path) as tif:
                pages = [_grey(np.asarray(page.asarray()), path) for page in tif.pages]
        except ImageReadError:
            raise
        except Exception as exc:
            raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc
        return np.stack(pages)
    return _grey(read_pixels(path), path)[None]


def _grey(pixels: np.ndarray, path: Path | str) -> np.ndarray:
    plane = first_plane(pixels, path)
    if plane.ndim == 3:  # an RGB slice: its mean, in the stored dtype
        plane = plane.mean(axis=2).astype(pixels.dtype)
    return plane


def read_stacks(paths: Sequence[Path | str]) -> list[np.ndarray]:
    """Several detectors' stacks of the same volume; ValueError if their slice counts or sizes differ."""
    stacks = [read_stack(p) for p in paths]
    shapes = {s.shape for s in stacks}
    if len(shapes) > 1:
        listing = ", ".join(f"{Path(p).name} {s.shape}" for p, s in zip(paths, stacks))
        raise ValueError(f"detector stacks differ in shape (slices, height, width): {listing}")
    return stacks


def slice_offsets(slices: int) -> tuple[int, ...]:
    """Offsets of the context slices, centre first: 1 -> (0,), 3 -> (0, -1, 1), 5 -> (0, -1, 1, -2, 2)."""
    if slices < 1 or slices % 2 == 0:
        raise ValueError(f"slices must be an odd number >= 1 (the slice and as many neighbours each side), "
                         f"got {slices}")
    return (0,) + tuple(o for r in range(1, slices // 2 + 1) for o in (-r, r))


def neighbour_indices(k: int, count: int, slices: int) -> tuple[int, ...]:
    """Indices of slice k's context (``slice_offsets`` order), clamped to 0..count-1 at the stack's ends."""
    if not 0 <= k < count:
        raise IndexError(f"slice {k} outside a stack of {count} slices")
    return tuple(min(max(k + o, 0), count - 1) for o in slice_offsets(slices))


def slice_input(stacks: Sequence[np.ndarray], k: int, slices: int) -> np.ndarray:
    """The 2.5D input of slice k, (detectors x slices, H, W): per detector its slices in ``slice_offsets`` order."""
    count = stacks[0].shape[0]
    idx = neighbour_indices(k, count, slices)
    return np.concatenate([s[list(idx)] for s in stacks], axis=0)


def channel_names(detectors: Sequence[str], slices: int) -> list[str]:
    """Names of ``slice_input``'s channels, e.g. inlens_z0, inlens_z-1, inlens_z+1 (folder names of a dataset)."""
    return [f"{d}_z{o:+d}" if o else f"{d}_z0" for d in detectors for o in slice_offsets(slices)]
