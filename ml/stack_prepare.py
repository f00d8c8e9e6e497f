"""A serial-section stack as an ordinary dataset: one folder per 2.5D input channel, one image a slice.

``prepare_stack`` writes, for every chosen slice k, the channels of ``foundation.slicestack.slice_input`` (per
detector the slices k, k-1, k+1, ends clamped) as single-plane TIFFs under ``out/<detector>_z<offset>/`` and,
with a label stack, its class map under ``out/masks/``. The folders go to ``grainloop train --images ... --masks``
(and to ``grainloop init --images ...``, whose annotators see the first folder: the centre slice of the first
detector, while the model sees its neighbours and the other detectors). ``predict_stack`` predicts every slice
of whole stacks, tile by tile, the same way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import tifffile

from foundation.slicestack import channel_names, read_stack, read_stacks, slice_input
from ml.io import write_mask

MASKS = "masks"


@dataclass(frozen=True)
class PreparedStack:
    out: Path
    channels: tuple[Path, ...]  # one folder per input channel, in model input order
    masks: Path | None
    slice_ids: tuple[str, ...]

    def train_args(self) -> list[str]:
        """The `grainloop train` options that train on this folder."""
        args = [a for c in self.channels for a in ("--images", str(c))]
        return args + (["--masks", str(self.masks)] if self.masks else [])


def slice_id(k: int) -> str:
    return f"slice_{k:04d}"


def detector_name(path: Path | str) -> str:
    """A detector's name from its stack's path: the file's stem or the folder's name."""
    path = Path(path)
    return path.name if path.is_dir() else path.stem


def parse_slices(text: str | None, count: int) -> list[int]:
    """'0,5,10' or '3-6' or a mix (None: every slice); ValueError for an index outside the stack."""
    if not text:
        return list(range(count))
    picked: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        picked += range(int(lo), int(hi or lo) + 1)
    bad = [k for k in picked if not 0 <= k < count]
    if bad:
        raise ValueError(f"slices {bad} outside the stack's 0..{count - 1}")
    return sorted(set(picked))


def prepare_stack(detectors: Sequence[Path], out: Path, slices: int = 3, labels: Path | None = None,
                  pick: Sequence[int] | None = None) -> PreparedStack:
    """Write the 2.5D dataset of the stacks (one per detector) for the picked slices (all by default)."""
    stacks = read_stacks(detectors)
    count = stacks[0].shape[0]
    names = [detector_name(p) for p in detectors]
    if len(set(names)) != len(names):
        raise ValueError(f"detector stacks need distinct names (file stems or folder names), got {names}")
    label_stack = read_stack(labels) if labels else None
    if label_stack is not None and label_stack.shape != stacks[0].shape:
        raise ValueError(f"label stack {label_stack.shape} differs from the detector stacks {stacks[0].shape}")
    folders = [out / name for name in channel_names(names, slices)]
    for f in folders + ([out / MASKS] if labels else []):
        f.mkdir(parents=True, exist_ok=True)
    ks = list(pick) if pick is not None else list(range(count))
    for k in ks:
        for folder, plane in zip(folders, slice_input(stacks, k, slices)):
            tifffile.imwrite(folder / f"{slice_id(k)}.tif", plane, photometric="minisblack")
        if label_stack is not None:
            write_mask(out / MASKS / f"{slice_id(k)}.png", label_stack[k])
    (out / "stack.json").write_text(json.dumps({
        "detectors": [str(p) for p in detectors], "labels": str(labels) if labels else None, "slices": slices,
        "channels": [f.name for f in folders], "picked": ks}, indent=1))
    return PreparedStack(out, tuple(folders), out / MASKS if labels else None, tuple(slice_id(k) for k in ks))


def predict_stack(model, artifact, stacks: Sequence[np.ndarray], cfg, progress: bool = False) -> np.ndarray:
    """(S, H, W) uint8 class maps of every slice; the context depth follows from the model's input channels."""
    from rich.progress import track

    from ml.runs import predict_class_map

    channels = artifact.model_config.in_channels
    if channels % len(stacks):
        raise ValueError(f"the model takes {channels} input channels, not a multiple of {len(stacks)} detector(s)")
    slices = channels // len(stacks)
    count = stacks[0].shape[0]
    out = np.zeros(stacks[0].shape, np.uint8)
    for k in track(range(count), description="predicting slices", disable=not progress):
        out[k] = predict_class_map(model, artifact, slice_input(stacks, k, slices), cfg)[0]
    return out
