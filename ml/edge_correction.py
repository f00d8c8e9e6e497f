"""Miles-Lantuejoul edge correction: size distributions from the grains the frame did not cut, without the bias
against large grains.

A grain is seen whole only when it touches no edge of the frame: the image border and the banner, as
``ml.instances.edge_cut`` flags them. Large grains are cut more often, so the whole grains under-represent them.
Miles (1974) and Lantuejoul (1980) weight each whole grain by the inverse of the chance that a grain of its
bounding box, placed at random, is seen whole:

    w = A_frame / |frame eroded by the grain's bounding box|

which for a W x H frame and a w x h box is A / ((W - w)(H - h)). Both areas are counted here in pixel positions
with the edge_cut convention: |eroded| is the number of positions of the box at which it covers no edge pixel,
and A_frame the same count for a 1 x 1 box (the pixels off the edge), so a one-pixel grain weighs exactly 1. Where
the pixels off the edge form a rectangle (no banner, or a banner across the full width or height) this is
(H_a - h + 1)(W_a - w + 1); otherwise it is counted with a summed-area table. Cut grains weigh 0.

The weights turn the whole grains into an estimate of the number distribution of all grains whose reference point
lies in the frame: sum(w) / A_frame estimates grains per pixel of frame, and every weighting (number, area,
volume) multiplies its own weight by w.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ml.box import Box
from ml.instances import edge_mask

WEIGHT_COLUMN = "edge_weight"  # grains.csv: the Miles-Lantuejoul weight of each grain (0 when cut)
HEAVY_WEIGHT = 4.0  # a grain whose box spans over about half the frame each way
HEAVY_SHARE = 0.05  # heavy grains carrying more of the weighted count than this get a warning


class Placements:
    """How many positions a box of h x w pixels has inside the pixels off the frame's edge."""

    def __init__(self, shape: tuple[int, int], banner: Box | None = None) -> None:
        allowed = ~edge_mask(shape, banner)
        rows, cols = np.nonzero(allowed)
        self.rectangle: tuple[int, int] | None = None
        if rows.size:
            height, width = int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1
            if height * width == rows.size:
                self.rectangle = (height, width)
        else:
            self.rectangle = (0, 0)
        edges = (~allowed).astype(np.int64)
        self._sums = None if self.rectangle else np.pad(edges.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        self._cache: dict[tuple[int, int], int] = {}

    def __call__(self, h: int, w: int) -> int:
        key = (int(h), int(w))
        if key not in self._cache:
            self._cache[key] = self._count(*key)
        return self._cache[key]

    def _count(self, h: int, w: int) -> int:
        if self.rectangle is not None:
            return max(self.rectangle[0] - h + 1, 0) * max(self.rectangle[1] - w + 1, 0)
        s = self._sums
        if h > s.shape[0] - 1 or w > s.shape[1] - 1:
            return 0
        edge_pixels = s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w]
        return int(np.count_nonzero(edge_pixels == 0))

    @property
    def frame_area(self) -> int:
        """A_frame: the positions of a one-pixel box, i.e. the pixels off the edge."""
        return self(1, 1)


def miles_lantuejoul_weights(shape: tuple[int, int], banner: Box | None, heights, widths, cut) -> np.ndarray:
    """(N,) weights of N grains from their bounding-box heights and widths (pixels) and cut flags."""
    placements = Placements(shape, banner)
    area = placements.frame_area
    out = np.zeros(len(heights), np.float64)
    for i, (h, w, c) in enumerate(zip(heights, widths, cut)):
        if c:
            continue
        n = placements(h, w)
        if n == 0:  # an uncut grain always has its own position: the box or the flags are inconsistent
            raise ValueError(f"grain {i}: a {h} x {w} box has no position off the edge of a {shape} frame")
        out[i] = area / n
    return out


def add_edge_weights(table: pd.DataFrame, shape: tuple[int, int], banner: Box | None) -> pd.DataFrame:
    """One image's grain table with the ``edge_weight`` column (needs bbox_height_px, bbox_width_px, cut_by_edge)."""
    table[WEIGHT_COLUMN] = miles_lantuejoul_weights(
        shape, banner, table["bbox_height_px"].to_numpy(int), table["bbox_width_px"].to_numpy(int),
        table["cut_by_edge"].to_numpy(bool)) if len(table) else np.zeros(0)
    return table


def number_weights(table: pd.DataFrame, edge_correction: bool = True, include_cut: bool = False) -> np.ndarray:
    """Each grain's weight in a number distribution: its edge weight with the correction; without it 1 for every
    whole grain (and for cut grains too with ``include_cut``, whose sizes are lower bounds), else 0."""
    if edge_correction and include_cut:
        raise ValueError("the edge correction weights whole grains only: include cut grains with it off "
                         "(--include-cut --no-edge-correction)")
    if edge_correction:
        return table[WEIGHT_COLUMN].to_numpy(np.float64)
    if include_cut or "cut_by_edge" not in table:
        return np.ones(len(table))
    return (~table["cut_by_edge"].astype(bool)).to_numpy(np.float64)


def weight_check(weights) -> dict:
    """How much the corrected count rests on heavy grains (weight over HEAVY_WEIGHT): the estimate stays unbiased,
    but a few grains nearly as large as the frame can then move it a lot; a warning says so above HEAVY_SHARE."""
    w = np.asarray(weights, np.float64)
    heavy, total = w > HEAVY_WEIGHT, float(w.sum())
    share = float(w[heavy].sum() / total) if total > 0 else 0.0
    warning = (f"{int(heavy.sum())} grain(s) spanning over half the frame carry {share:.0%} of the edge-corrected "
               f"count (largest weight {w.max():.0f}): its number statistics rest on few grains; image such grains "
               "at a lower magnification, or compare with --no-edge-correction") if share > HEAVY_SHARE else None
    return {"max_weight": float(w.max(initial=0.0)), "heavy_weight": HEAVY_WEIGHT, "heavy_grains": int(heavy.sum()),
            "heavy_share": share, "warning": warning}
