import numpy as np
import pytest

from foundation.schema import LabelSchema, binary_schema
from ml.box import Box
from ml.targets import IGNORE_INDEX, MaskValueError, class_map_from_prediction, make_target


def test_schema_orders_values_and_hash_is_stable(tmp_path):
    s = LabelSchema.load("schemas/phases.yaml")
    assert s.class_names == ("background", "pore", "quartz", "albite", "clay-mix")
    assert s.value_of("albite") == 3 and s.num_outputs == 5
    assert s.hash == LabelSchema.load("schemas/phases.yaml").hash != binary_schema().hash
    with pytest.raises(KeyError, match="unknown label 'gold'.*quartz"):
        s.value_of("gold")
    with pytest.raises(ValueError, match="choose one of brush, polygon"):
        LabelSchema.from_dict({"name": "x", "classes": ["a"], "tool": "lasso"})


def test_boundary_schema_adds_an_output():
    s = LabelSchema.load("schemas/grains-boundary.yaml")
    assert s.output_names == ("background", "grain", "boundary") and s.num_outputs == 3


def test_binary_and_multiclass_targets():
    cls = np.array([[0, 1, 1], [0, 1, 0]], np.uint8)
    assert np.array_equal(make_target(cls, binary_schema()), cls)
    phases = LabelSchema.load("schemas/phases.yaml")
    assert make_target(np.array([[4, 0]]), phases).tolist() == [[4, 0]]
    with pytest.raises(MaskValueError, match=r"\[5\].*clay-mix"):
        make_target(np.array([[5, 0]]), phases)


def test_boundary_target_splits_touching_grains():
    inst = np.zeros((8, 12), np.int32)
    inst[1:7, 1:6], inst[1:7, 6:11] = 1, 2  # two touching grains
    t = make_target((inst > 0).astype(np.uint8), binary_schema(boundary=True), inst)
    assert (t[:, 5] == 2).all() or (t[1:7, 5] == 2).all()
    assert (t[2:6, 6] == 2).all()  # both sides of the contact are boundary
    assert t[3, 3] == 1 and t[0, 0] == 0
    assert np.array_equal(class_map_from_prediction(t, binary_schema(boundary=True)), (inst > 0).astype(np.uint8))


def test_banner_is_ignored():
    t = make_target(np.ones((6, 4), np.uint8), binary_schema(), banner=Box(4, 6, 0, 4))
    assert (t[4:] == IGNORE_INDEX).all() and (t[:4] == 1).all()
