"""Sliding-window geometry, blending windows, the band accumulator and the row sinks of tiled prediction.

A ``Grid`` places windows at ``-overlap // 2 + i * stride`` along one axis, anchored to the image origin.
``BandAccumulator`` blends the softmax outputs of one window row into a (K, tile, extent) buffer and pops
the rows no later window touches. Sinks take those finished rows: ``ArraySink`` into arrays,
``TiffSink`` into tiled TIFFs written while predicting (256 x 256 tiles, one block of rows at a time).
"""
from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
import torch

WINDOWS = ("hann", "gaussian", "constant")
TIFF_TILE = 256


def window_profile(name: str, tile: int) -> np.ndarray:
    """Strictly positive 1-D blending profile of length ``tile``; the 2-D window is its outer product."""
    if name == "hann":
        return np.hanning(tile + 2)[1:-1].astype(np.float32)
    if name == "gaussian":
        r = np.arange(tile) - (tile - 1) / 2
        return np.exp(-0.5 * (r / (tile / 8)) ** 2).astype(np.float32)
    if name == "constant":
        return np.ones(tile, np.float32)
    raise ValueError(f"unknown window {name!r}; choose one of: {', '.join(WINDOWS)}")


@dataclass(frozen=True)
class Grid:
    """Window starts along one axis of ``length`` pixels: ``-offset + i * stride`` until the end is covered."""

    length: int
    tile: int
    overlap: int

    @property
    def stride(self) -> int:
        return self.tile - self.overlap

    @property
    def offset(self) -> int:
        return self.overlap // 2

    @property
    def count(self) -> int:
        return max(1, -(-(self.length + self.offset - self.tile) // self.stride) + 1)

    @property
    def starts(self) -> list[int]:
        return [-self.offset + i * self.stride for i in range(self.count)]

    @property
    def extent(self) -> int:
        """Pixels spanned by all windows, from ``-offset``."""
        return (self.count - 1) * self.stride + self.tile


class BandAccumulator:
    """Weighted class probabilities of the rows one window row covers, with their separable weights."""

    def __init__(self, classes: int, grid_x: Grid, window: str, device: str | torch.device):
        profile = torch.from_numpy(window_profile(window, grid_x.tile)).to(device)
        self.tile, self.profile = grid_x.tile, profile
        self.window = profile[:, None] * profile[None, :]
        self.acc = torch.zeros(classes, grid_x.tile, grid_x.extent, device=device)
        self.row_weight = torch.zeros(grid_x.tile, device=device)
        self.col_weight = torch.zeros(grid_x.extent, device=device)
        for x in grid_x.starts:
            self.col_weight[x + grid_x.offset : x + grid_x.offset + grid_x.tile] += profile

    def add(self, probs: torch.Tensor, cols: list[int]) -> None:
        """Blend (B, K, tile, tile) probabilities of windows starting at band columns ``cols``."""
        for p, x in zip(probs, cols):
            self.acc[:, :, x : x + self.tile].addcmul_(p, self.window)

    def end_row(self) -> None:
        """Count the weight of one finished window row (the row weights of the grid are separable)."""
        self.row_weight += self.profile

    def pop(self, n: int) -> torch.Tensor:
        """Normalised probabilities (K, n, extent) of the first n rows; the band moves down by n rows."""
        out = self.acc[:, :n] / (self.row_weight[:n, None] * self.col_weight)
        keep = self.tile - n
        self.acc[:, :keep] = self.acc[:, n:].clone()
        self.acc[:, keep:] = 0
        self.row_weight[:keep] = self.row_weight[n:].clone()
        self.row_weight[keep:] = 0
        return out


def entropy_to_uint8(entropy: np.ndarray, classes: int) -> np.ndarray:
    """Entropy (nats) scaled by 255 / log(K) and rounded: 0 certain, 255 uniform over the K classes."""
    scale = 255.0 / math.log(max(classes, 2))
    return np.clip(np.rint(entropy * scale), 0, 255).astype(np.uint8)


class ArraySink:
    """Finished rows into in-memory arrays: labels, and probabilities and entropy when asked for."""

    def __init__(self, shape: tuple[int, int], classes: int, probabilities: bool, entropy: bool):
        self.classes = classes
        self.labels = np.zeros(shape, np.uint8)
        self.probabilities = np.zeros((classes, *shape), np.float32) if probabilities else None
        self.entropy = np.zeros(shape, np.float32) if entropy else None

    @property
    def wants(self) -> tuple[bool, bool]:
        """Whether (probabilities, entropy) must be computed."""
        return self.probabilities is not None, self.entropy is not None

    def write(self, y: int, labels: np.ndarray, probs: np.ndarray | None, entropy: np.ndarray | None) -> None:
        self.labels[y : y + len(labels)] = labels
        if probs is not None:
            self.probabilities[:, y : y + len(labels)] = probs
        if entropy is not None:
            self.entropy[y : y + len(labels)] = entropy


class TiffTileWriter:
    """A uint8 (H, W) tiled, compressed TIFF written from rows handed over top to bottom.

    tifffile writes from an iterator of tiles in one call, so that call runs in a thread fed by a short
    queue of 256-row blocks: memory holds a few blocks, whatever the image height.
    """

    def __init__(self, path: Path | str, shape: tuple[int, int], compression: str = "zlib"):
        self.path, self.shape = Path(path), shape
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pending = np.zeros((0, shape[1]), np.uint8)
        self._rows_sent, self._error = 0, None
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._write, args=(compression,), daemon=True)
        self._thread.start()

    def _write(self, compression: str) -> None:
        try:
            tifffile.imwrite(self.path, self._tiles(), shape=self.shape, dtype=np.uint8, tile=(TIFF_TILE, TIFF_TILE),
                             compression=compression, photometric="minisblack", maxworkers=1,
                             bigtiff=self.shape[0] * self.shape[1] >= 2**31)
        except BaseException as exc:  # handed to the caller by close()
            self._error = exc

    def _tiles(self):
        while (block := self._queue.get()) is not None:
            for x in range(0, self.shape[1], TIFF_TILE):
                yield block[:, x : x + TIFF_TILE]
        raise RuntimeError(f"writing {self.path} was aborted")

    def _send(self, block: np.ndarray | None) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(block, timeout=0.5)
                return
            except queue.Full:
                pass
        if block is not None:
            raise RuntimeError(f"writing {self.path} failed") from self._error

    def put(self, rows: np.ndarray) -> None:
        """Append the next rows (h, W) of the image."""
        self._pending = np.concatenate([self._pending, rows])
        last = self._rows_sent + len(self._pending) >= self.shape[0]
        while len(self._pending) >= TIFF_TILE or (last and len(self._pending)):
            block, self._pending = self._pending[:TIFF_TILE], self._pending[TIFF_TILE:]
            self._send(block)
            self._rows_sent += len(block)

    def close(self, abort: bool = False) -> None:
        """Wait for the file to be complete; abort (or failure) removes the partial file."""
        if abort or self._rows_sent < self.shape[0]:
            self._send(None)
        self._thread.join()
        if abort or self._error is not None:
            self.path.unlink(missing_ok=True)
        if self._error is not None and not abort:
            raise RuntimeError(f"writing {self.path} failed: {self._error}") from self._error


class TiffSink:
    """Finished rows into a labels TIFF and, optionally, an entropy TIFF (``entropy_to_uint8``)."""

    def __init__(self, dst: Path | str, shape: tuple[int, int], classes: int, uncertainty_dst: Path | str | None):
        self.classes = classes
        self.labels = TiffTileWriter(dst, shape)
        self.uncertainty = TiffTileWriter(uncertainty_dst, shape) if uncertainty_dst is not None else None

    @property
    def wants(self) -> tuple[bool, bool]:
        return False, self.uncertainty is not None

    def write(self, y: int, labels: np.ndarray, probs: np.ndarray | None, entropy: np.ndarray | None) -> None:
        self.labels.put(labels)
        if self.uncertainty is not None:
            self.uncertainty.put(entropy_to_uint8(entropy, self.classes))

    def __enter__(self) -> "TiffSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        errors = []
        for writer in (w for w in (self.labels, self.uncertainty) if w is not None):
            try:
                writer.close(abort=exc_type is not None)
            except RuntimeError as error:
                errors.append(error)
        if errors:
            raise errors[0]
