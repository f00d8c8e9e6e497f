"""Grain instances from class maps, class probabilities or instance maps, with nothing dropped silently.

Touching grains are split with the model's boundary class when the label schema has one (cores of grain
pixels seed a watershed that hands every boundary pixel to its nearest core), else by a watershed on the
distance transform whose markers are the regional maxima of its h-maximum transform (one per grain unless
the neck between two grains is less than ``h`` px narrower than the smaller grain's radius). ``core_watershed``
combines the two for a boundary schema: the h-maxima of the grain cores' distance transform seed a watershed
that floods the cores and the boundary pixels, so two grains whose predicted boundary has a gap still split. Each
class of a multi-class map is split on its own, so a grain has one class.

Every grain found is either kept or listed in ``dropped`` with its reason (below the minimum area), and grains
cut by the image border or the instrument banner are flagged, not dropped: they are real grains whose size is
unknown, so size distributions leave them out by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.measure import label as connected_components
from skimage.morphology import local_maxima, reconstruction
from skimage.segmentation import watershed

from foundation.schema import LabelSchema
from ml.box import Box

METHODS = ("auto", "boundary", "core_watershed", "watershed", "components")


@dataclass(frozen=True)
class InstanceConfig:
    min_area: int = 10  # grains with fewer pixels are dropped (and listed)
    method: str = "auto"  # auto: boundary class when the schema has one, else watershed; core_watershed: the
    # watershed of the grain cores (a boundary schema's grain class) flooding grain and boundary pixels
    h: float = 1.0  # watershed: a distance-transform maximum must stand this many px above its saddle
    smooth: float = 1.0  # watershed: Gaussian sigma (px) on the distance transform against ragged outlines

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown instance method {self.method!r}; choose one of: {', '.join(METHODS)}")
        if self.min_area < 0 or self.h <= 0 or self.smooth < 0:
            raise ValueError(f"need min_area >= 0, h > 0 and smooth >= 0, got {self}")


@dataclass(frozen=True)
class DroppedGrain:
    grain: int  # id before dropping
    area_px: int
    reason: str


@dataclass
class Instances:
    """Grain ids 1..N (0 background), the class of each id and the grains dropped on the way."""

    labels: np.ndarray  # (H, W) int32
    classes: np.ndarray  # (N + 1,) class value per id, classes[0] == 0
    dropped: list[DroppedGrain] = field(default_factory=list)
    method: str = "given"

    @property
    def count(self) -> int:
        return int(self.classes.size - 1)


def _watershed_split(mask: np.ndarray, cfg: InstanceConfig, grown: np.ndarray | None = None) -> np.ndarray:
    """Distance-transform watershed of one binary mask (flooding ``grown`` when given); returns ids 1..n."""
    grown = mask if grown is None else grown
    dist = ndimage.distance_transform_edt(mask)
    if cfg.smooth:
        dist = ndimage.gaussian_filter(dist, cfg.smooth) * mask
    peaks = reconstruction(dist - cfg.h, dist)  # h-maximum transform: twin peaks over a high saddle merge
    markers = connected_components(local_maxima(peaks) & mask)
    return _with_rest(watershed(-dist, markers, mask=grown), grown)


def _boundary_split(core: np.ndarray, grown: np.ndarray, elevation: np.ndarray | None) -> np.ndarray:
    """Cores seed a watershed over grain + boundary pixels (by ``elevation``, else distance to a core)."""
    markers = connected_components(core, connectivity=1)
    surface = ndimage.distance_transform_edt(~core) if elevation is None else elevation
    split = watershed(surface, markers, mask=grown)
    return _with_rest(split, grown)


def _with_rest(split: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Parts of the mask no marker reached (thin grains, grains all boundary) become grains of their own."""
    rest = connected_components(mask & (split == 0))
    return np.where(rest > 0, rest + split.max(), split)


def _merge(parts: list[tuple[int, np.ndarray]], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-class id maps into one map with ids 1..N and the class of each id."""
    labels, classes = np.zeros(shape, np.int32), [0]
    for value, ids in parts:
        n = int(ids.max(initial=0))
        labels[ids > 0] = ids[ids > 0] + len(classes) - 1
        classes += [value] * n
    return labels, np.asarray(classes, np.int32)


def _choose(method: str, schema: LabelSchema) -> str:
    if method in ("boundary", "core_watershed") and not schema.boundary:
        raise ValueError(f"method {method!r} needs a schema with a boundary class; {schema.name!r} has none")
    return ("boundary" if schema.boundary else "watershed") if method == "auto" else method


def _split_class(class_map: np.ndarray, value: int, boundary: np.ndarray | None, elevation, method: str,
                 cfg: InstanceConfig) -> np.ndarray:
    mask = class_map == value
    if method == "boundary" and boundary is not None:
        return _boundary_split(mask, mask | boundary, elevation)
    if method == "core_watershed" and boundary is not None:  # markers from the cores' distance maxima
        return _watershed_split(mask, cfg, mask | boundary)
    if method == "watershed":
        return _watershed_split(mask, cfg)
    return connected_components(mask, connectivity=1)


def instances_from_class_map(class_map: np.ndarray, schema: LabelSchema, cfg: InstanceConfig = InstanceConfig(),
                             elevation: np.ndarray | None = None) -> Instances:
    """Split a class map (values 0..K, plus K+1 for the boundary class of a boundary schema) into grains."""
    method = _choose(cfg.method, schema)
    boundary = class_map == schema.num_outputs - 1 if schema.boundary else None
    values = [v for v in range(1, len(schema.class_names)) if (class_map == v).any()]
    parts = [(v, _split_class(class_map, v, boundary, elevation, method, cfg)) for v in values]
    labels, classes = _merge(parts, class_map.shape)
    return drop_small(Instances(labels, classes, [], method), cfg.min_area)


def instances_from_probabilities(probs: np.ndarray, schema: LabelSchema,
                                 cfg: InstanceConfig = InstanceConfig()) -> Instances:
    """Grains from (K, H, W) class probabilities: the argmax map, split along the boundary probability."""
    class_map = probs.argmax(0)
    elevation = probs[-1] if _choose(cfg.method, schema) == "boundary" else None
    return instances_from_class_map(class_map, schema, cfg, elevation)


def instances_from_instance_map(instance_map: np.ndarray, class_map: np.ndarray | None = None,
                                min_area: int = 0) -> Instances:
    """Renumber a given instance map to 1..N (class per grain: its majority class, else 1)."""
    ids, inverse = np.unique(instance_map, return_inverse=True)
    labels = inverse.reshape(instance_map.shape).astype(np.int32)
    if ids[0] != 0:
        labels += 1
    n = int(labels.max(initial=0))
    classes = np.ones(n + 1, np.int32)
    if class_map is not None:
        classes = _majority(labels, class_map, n)
    classes[0] = 0
    return drop_small(Instances(labels, classes, [], "given"), min_area)


def class_votes(labels: np.ndarray, class_map: np.ndarray, n: int | None = None) -> np.ndarray:
    """(n + 1, K + 1) pixel counts of each class value (columns) in each grain id (rows), in one bincount."""
    n = int(labels.max(initial=0)) if n is None else n
    k = int(class_map.max(initial=0)) + 1
    keys = labels.ravel().astype(np.int64) * k + class_map.ravel().astype(np.int64)
    return np.bincount(keys, minlength=(n + 1) * k).reshape(n + 1, k)


def _majority(labels: np.ndarray, class_map: np.ndarray, n: int) -> np.ndarray:
    votes = class_votes(labels, class_map, n)
    votes[:, 0] = 0  # background votes never win
    return np.where(votes.any(1), votes.argmax(1), 1).astype(np.int32)


def drop_small(inst: Instances, min_area: int) -> Instances:
    """Remove grains under ``min_area`` pixels, list each with its reason, renumber the rest 1..N."""
    area = np.bincount(inst.labels.ravel(), minlength=inst.classes.size)
    small = np.flatnonzero(area < min_area)
    small = small[small > 0]
    dropped = [DroppedGrain(int(g), int(area[g]), f"below min area ({area[g]} px < {min_area} px)") for g in small]
    keep = np.setdiff1d(np.arange(inst.classes.size), small)
    lut = np.zeros(inst.classes.size, np.int32)
    lut[keep] = np.arange(keep.size, dtype=np.int32)
    return Instances(lut[inst.labels], inst.classes[keep], inst.dropped + dropped, inst.method)


def edge_mask(shape: tuple[int, int], banner: Box | None = None) -> np.ndarray:
    """(H, W) bool: the pixels a grain must not touch to count as whole: the image border and the banner box
    grown by one pixel."""
    edge = np.zeros(shape, bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    if banner is not None:
        rows = slice(max(banner.y0 - 1, 0), min(banner.y1 + 1, shape[0]))
        edge[rows, max(banner.x0 - 1, 0): banner.x1 + 1] = True
    return edge


def edge_cut(labels: np.ndarray, banner: Box | None = None) -> np.ndarray:
    """(N + 1,) bool: grain touches the image border or the banner box (or its next row), so it may be cut."""
    edge = edge_mask(labels.shape, banner)
    flags = np.zeros(int(labels.max(initial=0)) + 1, bool)
    flags[np.unique(labels[edge])] = True
    flags[0] = False
    return flags
