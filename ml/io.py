"""Image and mask I/O: 8/16-bit TIFF, PNG, JPEG; channel stacks; lazy region reads of huge TIFFs.

Images are returned channel-first ``(C, H, W)`` in their stored dtype. RGB files whose three channels are
equal (grey content saved as RGB) become one channel. Errors always name the file. The decode itself (and the
error type) is ``foundation.semimage``, shared with labeling/.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import tifffile
from PIL import Image

from foundation.atomic import atomic_path
from foundation.semimage import ImageReadError, is_image, is_tiff, read_pixels
from foundation.semimage import IMAGE_SUFFIXES, TIFF_SUFFIXES  # noqa: F401  (re-exported: ml.runs uses them)


def to_channels_first(arr: np.ndarray, path: Path | str = "<array>") -> np.ndarray:
    """(H, W) or (H, W, S) to (C, H, W); drops alpha, folds grey-as-RGB to one channel."""
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim != 3:
        raise ImageReadError(path, f"expected a 2-D image or H x W x channels, got shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.shape[2] == 3 and np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
        arr = arr[..., :1]
    return np.ascontiguousarray(np.moveaxis(arr, 2, 0))


def read_image(path: Path | str) -> np.ndarray:
    """Read one image file as (C, H, W) in its stored dtype."""
    path = Path(path)
    arr = read_pixels(path)
    if arr.size == 0:
        raise ImageReadError(path, "empty image")
    return to_channels_first(arr, path)


def read_channels(paths: Sequence[Path | str]) -> np.ndarray:
    """Stack several single- or multi-channel images of the same field into one (C, H, W) array."""
    parts = [read_image(p) for p in paths]
    shapes = {p.shape[1:] for p in parts}
    if len(shapes) > 1:
        listing = ", ".join(f"{Path(p).name} {a.shape[1:]}" for p, a in zip(paths, parts))
        raise ImageReadError(paths[0], f"channel images differ in size: {listing}")
    dtypes = {p.dtype for p in parts}
    dtype = np.result_type(*dtypes)
    return np.concatenate([p.astype(dtype, copy=False) for p in parts], axis=0)


def read_mask(path: Path | str) -> np.ndarray:
    """Read a class map or instance map as a 2-D integer array."""
    path = Path(path)
    arr = read_pixels(path)
    if arr.ndim == 3:
        first = to_channels_first(arr, path)
        if first.shape[0] != 1:
            raise ImageReadError(path, "a mask must have one channel (a class or instance map), not colours")
        arr = first[0]
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ImageReadError(path, f"a mask must be a 2-D integer map, got {arr.dtype} {arr.shape}")
    return arr


def write_mask(path: Path | str, mask: np.ndarray) -> Path:
    """Write a class or instance map losslessly (PNG up to 16 bits, else TIFF)."""
    path = Path(path)
    with atomic_path(path) as tmp:  # a killed write leaves the old mask, never half of one
        if is_tiff(path):
            tifffile.imwrite(tmp, mask, compression="zlib")
        else:
            dtype = np.uint8 if mask.max(initial=0) < 256 else np.uint16
            kind = Image.registered_extensions().get(path.suffix.lower(), "PNG")  # the temp name has no suffix
            Image.fromarray(mask.astype(dtype)).save(tmp, format=kind)
    return path


class ImageSource(Protocol):
    """Anything that can hand out regions of a (C, H, W) image without loading all of it."""

    @property
    def shape(self) -> tuple[int, int, int]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray: ...


class ArraySource:
    """An in-memory (C, H, W) array as an ImageSource."""

    def __init__(self, array: np.ndarray):
        self.array = array if array.ndim == 3 else array[None]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return self.array[:, y0:y1, x0:x1]


class TiffSource:
    """A TIFF read lazily, tile or strip at a time, through tifffile's zarr store."""

    def __init__(self, path: Path | str):
        import zarr

        self.path = Path(path)
        try:
            self._store = tifffile.imread(self.path, aszarr=True)
            self._z = zarr.open(self._store, mode="r")
        except Exception as exc:
            raise ImageReadError(self.path, f"{type(exc).__name__}: {exc}") from exc
        if self._z.ndim not in (2, 3):
            raise ImageReadError(self.path, f"unsupported TIFF layout {self._z.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self._z.shape
        return (1, s[0], s[1]) if len(s) == 2 else (s[2], s[0], s[1])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._z.dtype)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        region = np.asarray(self._z[y0:y1, x0:x1])
        return region[None] if region.ndim == 2 else np.moveaxis(region, 2, 0)

    def close(self) -> None:
        self._store.close()


def as_source(image: "ImageSource | np.ndarray") -> ImageSource:
    """An ImageSource for an in-memory (C, H, W) array, or the source itself."""
    return ArraySource(image) if isinstance(image, np.ndarray) else image


def open_source(path: Path | str) -> ImageSource:
    """TIFFs are opened lazily; other formats are small enough to load."""
    path = Path(path)
    if is_tiff(path):
        return TiffSource(path)
    return ArraySource(read_image(path))


def list_images(folder: Path | str) -> list[Path]:
    """Image files in a folder (recursive), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    return sorted(p for p in folder.rglob("*") if is_image(p) and p.is_file())
