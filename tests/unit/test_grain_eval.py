"""Grain-level evaluation: instance metrics and the size-distribution error that the promotion rule checks
(the rule itself: tests/unit/test_promotion.py)."""
from __future__ import annotations

import numpy as np
import torch
from skimage.draw import disk

from foundation.schema import binary_schema
from ml.data import Sample
from ml.evaluate import evaluate
from ml.grain_eval import SIZE_ERROR, grain_metrics, uncut_diameters
from ml.preprocess import PreprocessConfig, fit
from ml.targets import make_target

SCHEMA = binary_schema()


def _discs(radius: int, centres, shape=(128, 128)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for c in centres:
        mask[disk(c, radius, shape=shape)] = 1
    return mask


CENTRES = [(30, 30), (30, 90), (90, 30), (90, 90)]


def test_a_perfect_prediction_has_no_size_error():
    truth = {"a": _discs(12, CENTRES)}
    m = grain_metrics(truth, {"a": truth["a"].copy()}, SCHEMA)
    assert m[SIZE_ERROR] == 0.0 and m["size_wasserstein_px"] == 0.0
    assert m["grains/f1"] == 1.0 and m["grains/n_true"] == 4 and m["grains/count_error"] == 0


def test_shrunken_grains_are_far_in_size_and_count_as_misses():
    truth = {"a": _discs(12, CENTRES)}
    small = grain_metrics(truth, {"a": _discs(6, CENTRES)}, SCHEMA)
    assert small[SIZE_ERROR] == 1.0  # every predicted grain smaller than every true one
    assert 11 < small["size_wasserstein_px"] < 13  # ECD 2r: about 24 against 12 px
    assert small["grains/f1"] == 0.0  # IoU 0.25 < 0.5: no match


def test_grains_cut_by_the_border_are_left_out_of_the_sizes():
    labels = np.zeros((64, 64), np.int32)
    labels[0:10, 20:30] = 1  # touches the top edge
    labels[30:40, 30:40] = 2
    assert np.allclose(uncut_diameters(labels), [np.sqrt(4 * 100 / np.pi)])



class _Outputs(torch.nn.Module):
    """A stand-in model whose logits are one-hot of a fixed label map (what a perfect model would output)."""

    def __init__(self, labels: np.ndarray, classes: int):
        super().__init__()
        self.logits = torch.nn.functional.one_hot(torch.as_tensor(labels, dtype=torch.long), classes)
        self.logits = self.logits.permute(2, 0, 1).float()[None] * 10

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1, -1, -1)


def test_evaluation_splits_touching_grains_on_the_boundary_class():
    """Evaluation keeps the model's boundary class for grain splitting (folding it into grain first would
    merge two touching grains into one); pixel metrics still compare folded class maps."""
    schema = binary_schema(boundary=True)
    instances = np.zeros((64, 64), np.int32)
    instances[16:48, 8:32], instances[16:48, 32:56] = 1, 2  # two grains sharing an edge
    image = (instances > 0).astype(np.float32)[None] * 200
    state = fit(image, PreprocessConfig())
    target = make_target((instances > 0).astype(np.uint8), schema, instances, state.banner)
    assert (target == schema.num_outputs - 1).any()  # the shared edge is boundary
    sample = Sample("touching", image, state, target, instances)
    ev = evaluate(_Outputs(target, schema.num_outputs), [sample], schema, keep_predictions=True)
    assert np.array_equal(ev.predictions["touching"], target)
    assert ev.metrics["mean_fg_iou"] == 1.0
    grains = grain_metrics({"touching": target}, ev.predictions, schema)
    assert grains["grains/n_true"] == grains["grains/n_pred"] == 2 and grains["grains/f1"] == 1.0
