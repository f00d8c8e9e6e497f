"""Evaluation: predict each sample with the same preprocessing as training, then accumulate metrics."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from rich.progress import track

from foundation.schema import LabelSchema
from ml.data import Sample
from ml.io import ArraySource
from ml.metrics import SegmentationMetrics
from ml.predict import PredictConfig, predict_image
from ml.targets import IGNORE_INDEX, class_map_from_prediction


@dataclass
class Evaluation:
    metrics: dict
    rows: list[dict]
    predictions: dict[str, np.ndarray]  # the model's label maps by sample id, boundary class kept (only when kept)
    confusion: np.ndarray | None = None  # (K, K) pixel counts, rows = truth, columns = prediction


def fitting_config(shape: tuple[int, ...], base: PredictConfig, max_side: int = 1024) -> PredictConfig:
    """One window covering the whole image when it is small enough: no overlap work, no seams."""
    side = max(shape[-2:])
    if side > max_side:
        return base
    return replace(base, tile=int(np.ceil(side / 32) * 32), overlap=0)


def predict_outputs(model: torch.nn.Module, sample: Sample, cfg: PredictConfig) -> np.ndarray:
    """The model's label map (a boundary schema's boundary class kept) for one sample, with its own
    preprocessing state."""
    window = fitting_config(sample.state.model_shape, cfg)
    return predict_image(model, ArraySource(sample.image), window, state=sample.state).labels


def evaluate(model: torch.nn.Module, samples: Sequence[Sample], schema: LabelSchema,
             cfg: PredictConfig = PredictConfig(), keep_predictions: bool = False, progress: bool = False) -> Evaluation:
    """Dataset metrics (reduced from accumulated statistics) and one row per image."""
    metrics = SegmentationMetrics(len(schema.class_names), schema.class_names, ignore_index=IGNORE_INDEX)
    kept = {}
    model.eval()
    for s in track(samples, description="evaluating", disable=not progress):
        outputs = predict_outputs(model, s, cfg)
        target = class_map_from_prediction(s.target, schema)
        metrics.update(class_map_from_prediction(outputs, schema), target, image_id=s.id)
        if keep_predictions:
            kept[s.id] = outputs  # grain splitting needs the boundary class
    return Evaluation(metrics.compute(), metrics.rows, kept, metrics.confusion_matrix)
