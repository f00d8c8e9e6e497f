"""Sliding-window prediction of images and of TIFFs larger than memory, blended seam-free.

Windows of ``tile`` pixels lie on a grid of stride ``tile - overlap`` anchored at ``-overlap // 2`` from the
image origin (``ml.tiling.Grid``), so a crop whose offset is a multiple of the stride sees the same windows.
Each window's softmax is weighted by a smooth window (Hann, Gaussian or constant) and the sum is normalised
by the summed weights. The image is run one window row at a time; rows that no later window touches are
handed to a sink, so memory is O(tile x width x classes) whatever the height. Windows past the image edge
are filled by ``ml.preprocess.apply`` (reflection), the very preprocessing used in training.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from ml.box import Box
from ml.io import ImageSource, as_source, open_source
from ml.preprocess import PreprocessConfig, PreprocessState, apply, fit
from ml.tiling import WINDOWS, ArraySink, BandAccumulator, Grid, TiffSink

__all__ = ["FLIPS", "WINDOWS", "PredictConfig", "Prediction", "predict_image", "predict_tiff", "window_batches"]

FLIPS = ((-1,), (-2,), (-2, -1))  # the TTA flips: horizontal, vertical, both


@dataclass(frozen=True)
class PredictConfig:
    tile: int = 512
    overlap: int = 128  # pixels shared by neighbouring windows
    window: str = "hann"  # one of WINDOWS
    batch_size: int = 4
    tta: bool = False  # average over flips (h, v, hv)
    probabilities: bool = False  # keep class probabilities in the result (in-memory prediction only)
    uncertainty: bool = False  # per-pixel entropy of the blended probabilities (in-memory prediction only)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"unknown window {self.window!r}; choose one of: {', '.join(WINDOWS)}")
        if not (self.tile > 0 and 0 <= self.overlap < self.tile and self.batch_size > 0):
            raise ValueError(f"need tile > overlap >= 0 and batch_size > 0, got {self}")


@dataclass
class Prediction:
    labels: np.ndarray  # (H, W) uint8 argmax; 0 (background) inside the banner
    probabilities: np.ndarray | None  # (K, H, W) float32; one-hot background inside the banner
    entropy: np.ndarray | None  # (H, W) float32, natural log, 0 inside the banner
    banner: Box | None


def _infer(model: torch.nn.Module, batch: torch.Tensor, tta: bool) -> torch.Tensor:
    """Softmax of one batch, averaged over the flips (each output flipped back) when tta."""
    probs = model(batch).softmax(1)
    if tta:
        for dims in FLIPS:
            probs += model(batch.flip(dims)).softmax(1).flip(dims)
        probs /= 1 + len(FLIPS)
    return probs


def _row_batches(source: ImageSource, state: PreprocessState, cfg: PredictConfig, y: int,
                 grid_x: Grid) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Inputs of the window row at y, batch_size windows at a time: (band columns, (B, C, tile, tile))."""
    band = apply(source, state, Box(y, y + cfg.tile, -grid_x.offset, grid_x.extent - grid_x.offset))
    xs = [x + grid_x.offset for x in grid_x.starts]
    for k in range(0, len(xs), cfg.batch_size):
        cols = xs[k : k + cfg.batch_size]
        batch = np.stack([band[:, :, x : x + cfg.tile] for x in cols])
        yield cols, torch.from_numpy(batch).to(cfg.device)


def _banner_only(y: int, tile: int, state: PreprocessState) -> bool:
    """True when every image row of the window row at (model row) y lies in the banner (no need to run it)."""
    v0, v1 = state.valid_rows
    k = state.downsample
    return min((y + tile) * k, v1) <= max(y * k, v0)


def window_batches(image: ImageSource | np.ndarray, state: PreprocessState,
                   cfg: PredictConfig = PredictConfig()) -> Iterator[torch.Tensor]:
    """Every model input batch predict_image runs for this image, in order (for benchmarks)."""
    source = as_source(image)
    grid_x = Grid(state.model_shape[1], cfg.tile, cfg.overlap)
    for y in Grid(state.model_shape[0], cfg.tile, cfg.overlap).starts:
        if not _banner_only(y, cfg.tile, state):
            yield from (batch for _, batch in _row_batches(source, state, cfg, y, grid_x))


def _argmax(probs: torch.Tensor) -> torch.Tensor:
    """uint8 argmax over classes (first on ties); a loop over K is ~10x faster than torch.argmax(0) on CPU."""
    labels, best = torch.zeros(probs.shape[1:], dtype=torch.uint8, device=probs.device), probs[0]
    for k in range(1, len(probs)):
        labels.masked_fill_(probs[k] > best, k)
        best = torch.maximum(best, probs[k])
    return labels


def _blank_banner(banner: Box | None, top: int, labels: torch.Tensor, probs: torch.Tensor,
                  entropy: torch.Tensor | None) -> None:
    """Background, certain, inside the banner (rows from ``top`` on)."""
    if banner is None or min(banner.y1 - top, len(labels)) <= max(banner.y0 - top, 0):
        return
    r0, r1 = max(banner.y0 - top, 0), min(banner.y1 - top, len(labels))
    cols = slice(banner.x0, banner.x1)
    labels[r0:r1, cols] = 0
    probs[:, r0:r1, cols] = 0
    probs[0, r0:r1, cols] = 1
    if entropy is not None:
        entropy[r0:r1, cols] = 0


def _emit(sink: ArraySink | TiffSink, probs: torch.Tensor, y: int, state: PreprocessState, offset: int) -> None:
    """Hand the finished band rows starting at model row y (columns from ``-offset``) to the sink, in image
    pixels: with downsampling, each model pixel's probabilities cover its k x k block."""
    k = state.downsample
    if k > 1:
        probs, y, offset = probs.repeat_interleave(k, 1).repeat_interleave(k, 2), y * k, offset * k
    _, h, w = state.shape
    top, bottom = max(y, 0), min(y + probs.shape[1], h)
    if bottom <= top:
        return
    probs = probs[:, top - y : bottom - y, offset : offset + w]
    want_probs, want_entropy = sink.wants
    labels = _argmax(probs)
    entropy = torch.special.entr(probs).sum(0) if want_entropy else None
    _blank_banner(state.banner, top, labels, probs, entropy)
    sink.write(top, labels.cpu().numpy(), probs.cpu().numpy() if want_probs else None,
               entropy.cpu().numpy() if want_entropy else None)


def _track(items: list[int], progress: bool) -> Iterable[int]:
    if not progress:
        return items
    from rich.progress import track

    return track(items, description="predicting window rows")


def _run(model: torch.nn.Module, source: ImageSource, state: PreprocessState, cfg: PredictConfig,
         sink: ArraySink | TiffSink, progress: bool) -> int:
    """The one engine: window rows top to bottom, finished rows to the sink; returns the windows run."""
    grid_y, grid_x = (Grid(n, cfg.tile, cfg.overlap) for n in state.model_shape)
    band, n_windows = BandAccumulator(sink.classes, grid_x, cfg.window, cfg.device), 0
    with torch.inference_mode():
        for i, y in enumerate(_track(grid_y.starts, progress)):
            if not _banner_only(y, cfg.tile, state):
                for cols, batch in _row_batches(source, state, cfg, y, grid_x):
                    band.add(_infer(model, batch, cfg.tta), cols)
                    n_windows += len(cols)
            band.end_row()
            _emit(sink, band.pop(cfg.tile if i == grid_y.count - 1 else grid_y.stride), y, state, grid_x.offset)
    return n_windows


def _prepare(model: torch.nn.Module, state: PreprocessState, cfg: PredictConfig) -> int:
    """Eval mode on cfg.device; returns the number of classes the model predicts."""
    channels = state.shape[0]
    model.eval().to(cfg.device)
    head = getattr(model, "segmentation_head", None)
    if isinstance(head, torch.nn.Sequential) and isinstance(head[0], torch.nn.Conv2d):
        return head[0].out_channels
    with torch.inference_mode():
        return int(model(torch.zeros(1, channels, cfg.tile, cfg.tile, device=cfg.device)).shape[1])


def predict_image(model: torch.nn.Module, image: np.ndarray | ImageSource, cfg: PredictConfig = PredictConfig(),
                  preprocess_cfg: PreprocessConfig = PreprocessConfig(), progress: bool = False,
                  state: PreprocessState | None = None) -> Prediction:
    """Predict an image ((H, W) or (C, H, W) array, or any ImageSource) into in-memory arrays.

    ``state`` reuses a PreprocessState measured before (e.g. on the full image a crop comes from);
    by default it is ``fit(image, preprocess_cfg)``. The model is put in eval mode on ``cfg.device``.
    """
    source = as_source(image)
    state = fit(source, preprocess_cfg) if state is None else state
    if tuple(state.shape) != tuple(source.shape):
        raise ValueError(f"preprocess state is for shape {state.shape}, the image is {source.shape}")
    classes = _prepare(model, state, cfg)
    sink = ArraySink(state.shape[1:], classes, cfg.probabilities, cfg.uncertainty)
    _run(model, source, state, cfg, sink, progress)
    return Prediction(sink.labels, sink.probabilities, sink.entropy, state.banner)


def predict_tiff(model: torch.nn.Module, src: Path | str, dst: Path | str, cfg: PredictConfig = PredictConfig(),
                 preprocess_cfg: PreprocessConfig = PreprocessConfig(), uncertainty_dst: Path | str | None = None,
                 progress: bool = False) -> dict:
    """Predict an image file of any size into a tiled uint8 labels TIFF, reading and writing lazily.

    With ``uncertainty_dst`` the per-pixel entropy is written there as a tiled uint8 TIFF scaled by
    255 / log(K) (0: certain, 255: uniform over the K classes; ``ml.tiling.entropy_to_uint8``).
    ``cfg.probabilities`` and ``cfg.uncertainty`` are for in-memory prediction and are ignored here.
    Returns a summary: shape (H, W), n_tiles (windows run), seconds, banner (a dict or None).
    """
    start, source = time.perf_counter(), open_source(src)
    try:
        state = fit(source, preprocess_cfg)
        classes = _prepare(model, state, cfg)
        with TiffSink(dst, state.shape[1:], classes, uncertainty_dst) as sink:
            n_tiles = _run(model, source, state, cfg, sink, progress)
    finally:
        getattr(source, "close", lambda: None)()
    banner = state.banner.to_dict() if state.banner else None
    return {"shape": list(state.shape[1:]), "n_tiles": n_tiles, "seconds": time.perf_counter() - start,
            "banner": banner}
