"""Grain instances from class maps and probabilities, edge flags, and instance metrics against ground truth."""
import numpy as np
import pytest
from skimage.draw import disk, ellipse

from foundation.schema import LabelClass, LabelSchema, binary_schema
from ml.box import Box
from ml.instance_metrics import InstanceMetrics, instance_scores, match_instances
from ml.instances import (InstanceConfig, edge_cut, instances_from_class_map, instances_from_instance_map,
                          instances_from_probabilities)
from ml.targets import make_target

TWO_PHASES = LabelSchema("phases", (LabelClass("quartz"), LabelClass("feldspar")))


def scene() -> np.ndarray:
    """Ground-truth instances: two touching discs, a touching disc pair of unequal size, a lone ellipse,
    a disc cut by the left border and a speck of 5 px (below the default minimum area)."""
    inst = np.zeros((160, 200), np.int32)
    for gid, (cy, cx, r) in enumerate([(40, 40, 18), (40, 75, 18), (110, 40, 22), (110, 76, 15)], start=1):
        inst[disk((cy, cx), r, shape=inst.shape)] = gid
    inst[ellipse(50, 150, 12, 30, rotation=np.deg2rad(60), shape=inst.shape)] = 5
    inst[disk((140, 2), 9, shape=inst.shape)] = 6
    inst[150:151, 150:155] = 7
    return inst


def test_watershed_splits_touching_grains_and_accounts_for_every_grain():
    truth = scene()
    got = instances_from_class_map((truth > 0).astype(np.uint8), binary_schema())
    assert got.method == "watershed"
    assert got.count + len(got.dropped) == 7  # count in = count out
    assert [d.area_px for d in got.dropped] == [5] and "below min area" in got.dropped[0].reason
    kept_truth = np.where(truth == 7, 0, truth)
    scores = instance_scores(kept_truth, got.labels)
    assert scores["f1"] == 1.0 and scores["pq"] > 0.9 and scores["count_error"] == 0


def test_components_do_not_split_touching_grains():
    truth = scene()
    got = instances_from_class_map((truth > 0).astype(np.uint8), binary_schema(), InstanceConfig(method="components"))
    assert got.count == 4  # two merged pairs, the ellipse, the cut disc


def test_boundary_class_splits_along_the_predicted_boundary():
    truth = scene()
    schema = binary_schema(boundary=True)
    target = make_target((truth > 0).astype(np.uint8), schema, truth)  # class 2 on every grain's rim
    got = instances_from_class_map(target, schema, InstanceConfig(min_area=0))
    assert got.method == "boundary" and got.count == 7
    assert instance_scores(truth, got.labels)["sq"] > 0.99


def test_core_watershed_splits_touching_grains_where_the_boundary_has_a_gap():
    truth = scene()
    schema = binary_schema(boundary=True)
    target = make_target((truth > 0).astype(np.uint8), schema, truth)
    contact = target[36:45, 54:62]  # where grains 1 and 2 touch
    contact[contact == 2] = 1  # the boundary missed there: their cores join
    joined = instances_from_class_map(target, schema, InstanceConfig(min_area=0))
    got = instances_from_class_map(target, schema, InstanceConfig(min_area=0, method="core_watershed", h=2))
    assert got.method == "core_watershed" and joined.count == 6 and got.count == 7
    assert instance_scores(truth, got.labels)["f1"] == 1.0
    with pytest.raises(ValueError, match="needs a schema with a boundary class"):
        instances_from_class_map(target, binary_schema(), InstanceConfig(method="core_watershed"))


def test_probabilities_with_a_boundary_channel():
    truth = scene()
    schema = binary_schema(boundary=True)
    target = make_target((truth > 0).astype(np.uint8), schema, truth)
    probs = np.stack([(target == k).astype(np.float32) for k in range(3)]) * 0.8 + 0.1
    got = instances_from_probabilities(probs, schema, InstanceConfig(min_area=0))
    assert instance_scores(truth, got.labels)["f1"] == 1.0


def test_multi_class_map_keeps_one_class_per_grain():
    cls = np.zeros((80, 120), np.uint8)
    cls[disk((40, 40), 20)] = 1
    cls[disk((40, 79), 20)] = 2  # touches the first, other phase
    got = instances_from_class_map(cls, TWO_PHASES, InstanceConfig(method="components"))
    assert got.count == 2 and sorted(got.classes[1:].tolist()) == [1, 2]
    for gid in (1, 2):
        assert len(np.unique(cls[got.labels == gid])) == 1


def test_given_instance_map_renumbered_with_majority_class():
    inst = np.zeros((30, 30), np.int32)
    inst[2:10, 2:10], inst[15:25, 15:25] = 7, 42
    cls = np.where(inst == 42, 2, np.where(inst > 0, 1, 0))
    got = instances_from_instance_map(inst, cls)
    assert got.count == 2 and set(np.unique(got.labels)) == {0, 1, 2} and got.classes.tolist() == [0, 1, 2]


def test_edge_flags_for_border_and_banner():
    labels = np.zeros((50, 50), np.int32)
    labels[0:5, 20:25] = 1  # top border
    labels[20:25, 20:25] = 2  # inside
    labels[36:40, 10:15] = 3  # touches the banner (rows 40..49)
    flags = edge_cut(labels, Box(40, 50, 0, 50))
    assert flags.tolist() == [False, True, False, True]
    assert edge_cut(labels).tolist() == [False, True, False, False]


def test_unknown_method_lists_choices():
    with pytest.raises(ValueError, match="auto, boundary, core_watershed, watershed, components"):
        InstanceConfig(method="magic")
    with pytest.raises(ValueError, match="boundary class"):
        instances_from_class_map(np.zeros((4, 4), np.uint8), binary_schema(), InstanceConfig(method="boundary"))


def test_instance_metrics_by_hand():
    true = np.zeros((20, 20), np.int32)
    true[1:5, 1:5], true[10:14, 10:14] = 1, 2
    pred = np.zeros_like(true)
    pred[1:5, 1:6] = 9  # IoU 16/20 = 0.8 with grain 1
    pred[10:11, 10:11] = 3  # IoU 1/16: no match
    m = match_instances(true, pred)
    assert m.pairs.tolist() == [[1, 9]] and m.ious[0] == pytest.approx(0.8)
    s = instance_scores(true, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 1)
    assert s["f1"] == pytest.approx(0.5) and s["ap50"] == pytest.approx(1 / 3) and s["pq"] == pytest.approx(0.4)
    ranked = instance_scores(true, pred, scores={9: 0.9, 3: 0.2})
    assert ranked["ap50_kind"] == "ranked" and ranked["ap50"] == pytest.approx(0.5)
    worse = instance_scores(true, pred, scores={9: 0.1, 3: 0.9})  # the false grain ranked first
    assert worse["ap50"] == pytest.approx(0.25)


def test_instance_metrics_accumulate_and_count_error():
    true = np.zeros((10, 10), np.int32)
    true[0:3, 0:3], true[5:8, 5:8] = 1, 2
    metrics = InstanceMetrics()
    metrics.update(true, true, "perfect")
    metrics.update(true, np.zeros_like(true), "empty")
    out = metrics.compute()
    assert out["n_true"] == 4 and out["n_pred"] == 2 and out["count_error"] == -2
    assert out["f1"] == pytest.approx(2 / 3) and [r["f1"] for r in metrics.rows] == [1.0, 0.0]
    assert out["count_rel_error"] == pytest.approx(-0.5)  # pooled: 2 found of 4
    over = np.zeros_like(true)
    over[0:3, 0:3], over[5:8, 5:6], over[5:8, 6:8] = 1, 2, 3  # one grain split in two: +1 of 2
    metrics.update(true, over, "split")
    metrics.update(np.zeros_like(true), over, "no grain")  # no true grain: no relative error, not in the median
    assert metrics.compute()["count_rel_error_median"] == pytest.approx(0.5)  # median of |0|, |-1|, |+0.5|
