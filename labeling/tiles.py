"""Overlapping tiles for images too large for one task, and tile masks back into the full image.

Tiles form a grid: along each axis the starts are spread evenly from 0 to (side - tile), as few as needed for
neighbours to overlap by at least ``overlap`` pixels. Back in the full image every pixel is taken from the tile
that owns it: overlaps are split at their middle, so each pixel has exactly one owner.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True, order=True)
class TileBox:
    y: int
    x: int
    height: int
    width: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def key(self) -> str:
        return f"y{self.y}_x{self.x}_{self.height}x{self.width}"

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y:self.y + self.height, self.x:self.x + self.width]


@dataclass(frozen=True)
class TilingConfig:
    max_side: int = 2048
    overlap: int = 256

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.max_side:
            raise ValueError(f"tile overlap {self.overlap} must be >= 0 and < the tile size {self.max_side}")


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: one tile if it fits, else evenly spread with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def tile_boxes(height: int, width: int, config: TilingConfig) -> list[TileBox]:
    """The tile grid of an image; a single full-image box when both sides fit."""
    th, tw = min(height, config.max_side), min(width, config.max_side)
    return [TileBox(y, x, th, tw) for y in axis_starts(height, config.max_side, config.overlap)
            for x in axis_starts(width, config.max_side, config.overlap)]


def _cuts(starts: list[int], tile: int, length: int) -> list[int]:
    """Ownership boundaries along one axis: the middle of each overlap."""
    middles = [(s + prev + tile) // 2 for prev, s in zip(starts, starts[1:])]
    return [0, *middles, length]


def owned_region(box: TileBox, boxes: list[TileBox], height: int, width: int) -> tuple[slice, slice]:
    """The part of the full image this tile owns (full-image coordinates)."""
    ys, xs = sorted({b.y for b in boxes}), sorted({b.x for b in boxes})
    ycuts, xcuts = _cuts(ys, box.height, height), _cuts(xs, box.width, width)
    i, j = ys.index(box.y), xs.index(box.x)
    return slice(ycuts[i], ycuts[i + 1]), slice(xcuts[j], xcuts[j + 1])


def merge_tiles(tiles: dict[TileBox, np.ndarray], height: int, width: int, config: TilingConfig) -> np.ndarray:
    """Assemble tile masks into the full image; every tile of the image's grid must be present."""
    grid = tile_boxes(height, width, config)
    missing = [b.key for b in grid if b not in tiles]
    if missing:
        raise ValueError(f"tiles {', '.join(missing)} missing to assemble a {height}x{width} mask")
    out = np.zeros((height, width), dtype=next(iter(tiles.values())).dtype)
    for box in grid:
        rows, cols = owned_region(box, grid, height, width)
        out[rows, cols] = tiles[box][rows.start - box.y:rows.stop - box.y, cols.start - box.x:cols.stop - box.x]
    return out
