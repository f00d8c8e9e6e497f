"""Tune how a model's prediction becomes grains, on validation images with known grains; never on test images.

A model's class map (and, for a boundary schema, its boundary class) can be split into grains several ways
(``ml.instances``: the boundary split, the watershed of the predicted grain cores, a distance-transform watershed,
connected components) with a minimum grain area and a watershed depth ``h``, both in pixels of the image. Which
of them counts grains best depends on the model and on the images' scale, so training tries a small grid on its
validation images (each image predicted once, every decoding scored on the same probabilities) and keeps the one
that meets most grain goals (median count error, panoptic quality, size-distribution KS), then the highest PQ.
The choice is stored in the model artifact (``ModelArtifact.decoding``); ``decoding_config`` reads it back, and
a model without one decodes with ``InstanceConfig``'s defaults, as before.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from foundation.schema import LabelSchema
from ml.config import from_dict
from ml.data import Sample
from ml.evaluate import fitting_config
from ml.grain_eval import instance_grain_metrics
from ml.instances import InstanceConfig, instances_from_instance_map, instances_from_probabilities
from ml.io import ArraySource
from ml.metrics import SIZE_ERROR
from ml.predict import PredictConfig, predict_image

TRUTH_MIN_AREA = 10  # true grains below this many pixels are left out, whatever the decoding
# The grain goals of issue 14: the decoding meeting most of them wins, then the highest panoptic quality.
GRAIN_GOALS: Mapping[str, tuple[str, float]] = {"grains/count_rel_error_median": ("<=", 0.20),
                                                "grains/pq": (">=", 0.50), SIZE_ERROR: ("<=", 0.10)}
RANKED_BY = "grains/pq"


@dataclass(frozen=True)
class Tuning:
    config: InstanceConfig  # the chosen decoding
    rows: list[dict]  # one per decoding tried: its settings and grain metrics on the validation images
    images: int


def met(value: float, op: str, goal: float) -> bool:
    return value >= goal if op == ">=" else value <= goal


def goals_met(metrics: Mapping[str, float]) -> int:
    """How many of GRAIN_GOALS these grain metrics meet."""
    return sum(met(metrics[k], op, goal) for k, (op, goal) in GRAIN_GOALS.items())


def grid(schema: LabelSchema) -> list[InstanceConfig]:
    """The decodings training tries: the boundary class's splits for a boundary schema, else the distance
    watershed and connected components; each at three minimum areas."""
    if schema.boundary:
        splits = [("boundary", 1.0)] + [("core_watershed", h) for h in (2.0, 4.0, 8.0)]
    else:
        splits = [("watershed", h) for h in (1.0, 2.0, 4.0, 8.0)] + [("components", 1.0)]
    return [InstanceConfig(min_area=a, method=m, h=h) for m, h in splits for a in (25, 50, 100)]


def probabilities(model: torch.nn.Module, samples: Sequence[Sample], tta: bool = False) -> dict[str, np.ndarray]:
    """(K, H, W) float16 class probabilities of each sample at image resolution, with its own preprocessing."""
    out = {}
    for s in samples:
        window = replace(fitting_config(s.state.model_shape, PredictConfig()), probabilities=True, tta=tta)
        out[s.id] = predict_image(model, ArraySource(s.image), window, state=s.state).probabilities.astype(np.float16)
    return out


def true_grains(samples: Sequence[Sample]) -> dict[str, np.ndarray]:
    """The samples' true grain ids (0 background), grains under TRUTH_MIN_AREA left out."""
    return {s.id: instances_from_instance_map(s.instances, None, TRUTH_MIN_AREA).labels for s in samples}


def score(truths: Mapping[str, np.ndarray], probs: Mapping[str, np.ndarray], schema: LabelSchema,
          cfg: InstanceConfig) -> dict:
    """The grain metrics of one decoding over the images of ``truths``."""
    preds = {k: instances_from_probabilities(probs[k].astype(np.float32), schema, cfg).labels for k in truths}
    return instance_grain_metrics(truths, preds)


def choose(scored: Sequence[tuple[Any, dict]]) -> Any:
    """The decoding (of any description) meeting most grain goals, then with the highest PQ (the first of equals)."""
    return max(scored, key=lambda cm: (goals_met(cm[1]), np.nan_to_num(cm[1][RANKED_BY], nan=-1.0)))[0]


def tune_decoding(model: torch.nn.Module, samples: Sequence[Sample], schema: LabelSchema,
                  candidates: Sequence[InstanceConfig] | None = None) -> Tuning | None:
    """The best decoding of ``candidates`` (default: ``grid``) on ``samples``; None when a sample has no
    instance map (class masks only: nothing to count against) or there are none."""
    if not samples or any(s.instances is None for s in samples):
        return None
    model.eval()
    truths, probs = true_grains(samples), probabilities(model, samples)
    scored = [(cfg, score(truths, probs, schema, cfg)) for cfg in (candidates or grid(schema))]
    rows = [{**asdict(cfg), **metrics, "goals_met": goals_met(metrics)} for cfg, metrics in scored]
    return Tuning(choose(scored), rows, len(samples))


def decoding_config(decoding: Mapping | None) -> InstanceConfig:
    """A model artifact's tuned decoding, or InstanceConfig's defaults when it has none."""
    return from_dict(InstanceConfig, dict(decoding)) if decoding else InstanceConfig()
