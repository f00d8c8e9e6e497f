"""Grain-level evaluation of predicted class maps: instance metrics and the size-distribution error.

The truth and the prediction are split into grains the same way (``ml.instances``: the boundary class when
the schema has one, else a distance-transform watershed), unless the prediction is given its model's own decoding
(``ml.decoding``, tuned on validation images); grains cut by the image border are left out of the
size distributions, and the equivalent circular diameters (pixels) of all images are compared with
``size_distribution_error``. Its KS statistic is ``size_distribution_error`` in the metrics, which the promotion
rule checks (lower is better).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from foundation.schema import LabelSchema
from ml.distributions import size_distribution_error
from ml.instance_metrics import InstanceMetrics
from ml.instances import InstanceConfig, edge_cut, instances_from_class_map
from ml.metrics import SIZE_ERROR
from ml.targets import IGNORE_INDEX


def uncut_diameters(labels: np.ndarray) -> np.ndarray:
    """Equivalent circular diameters (px) of the grains that do not touch the image border."""
    area = np.bincount(labels.ravel())[1:].astype(np.float64)
    keep = ~edge_cut(labels)[1:] & (area > 0)
    return np.sqrt(4 * area[keep] / np.pi)


def grain_metrics(truths: Mapping[str, np.ndarray], preds: Mapping[str, np.ndarray], schema: LabelSchema,
                  cfg: InstanceConfig = InstanceConfig(), pred_cfg: InstanceConfig | None = None) -> dict:
    """Instance F1, AP50, PQ and count error, and the KS and Wasserstein distances between the predicted and
    true grain-size distributions, over the images of ``truths`` (class maps; IGNORE_INDEX = unlabelled). The
    truth is split with ``cfg``, the prediction with ``pred_cfg`` (a model's tuned decoding) or ``cfg``."""
    true = {k: instances_from_class_map(np.where(t == IGNORE_INDEX, 0, t), schema, cfg).labels
            for k, t in truths.items()}
    pred_cfg = pred_cfg or cfg
    return instance_grain_metrics(true, {k: instances_from_class_map(preds[k], schema, pred_cfg).labels for k in true})


def instance_grain_metrics(truths: Mapping[str, np.ndarray], preds: Mapping[str, np.ndarray]) -> dict:
    """The metrics of ``grain_metrics`` from instance maps (0 = background) given directly, by image id."""
    metrics, true_d, pred_d = InstanceMetrics(), [], []
    for image_id, true in truths.items():
        pred = preds[image_id]
        metrics.update(true, pred, image_id)
        true_d.append(uncut_diameters(true))
        pred_d.append(uncut_diameters(pred))
    found = metrics.compute()
    sizes = size_distribution_error(np.concatenate(pred_d or [[]]), np.concatenate(true_d or [[]]))
    keys = ("f1", "ap50", "pq", "count_error", "count_rel_error", "count_rel_error_median", "n_true", "n_pred")
    return {**{f"grains/{k}": found[k] for k in keys}, SIZE_ERROR: sizes["ks"],
            "size_wasserstein_px": sizes["wasserstein"]}
