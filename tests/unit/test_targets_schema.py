from pathlib import Path

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


def test_a_boundary_class_is_drawn_from_instance_maps_beside_the_class_maps(synthetic_dataset, tmp_path):
    """A dataset version keeps class maps in masks/ and grains in instances/: with a boundary class, training draws
    each image's boundary from its grains (touching grains parted), falling back to the class map's connected
    components for an image without an instance map; without a boundary class the instance maps are not read."""
    import shutil

    from ml.data import load_samples
    from ml.io import read_mask
    from ml.runs import TrainSpec, split_files

    d, schema = synthetic_dataset, binary_schema(boundary=True)
    instances = tmp_path / "instances"
    shutil.copytree(d / "instances", instances)
    (instances / "syn_0000.tif").unlink()
    files = split_files(TrainSpec([d / "images"], d / "masks", "class", schema, instances=instances))
    assert files[0].instances is None and all(f.instances == instances / f"{f.id}.tif" for f in files[1:])
    samples = load_samples(files, schema)
    parted = 0
    for f, s in zip(files, samples):
        class_map = read_mask(f.mask)
        own = make_target(class_map, schema, read_mask(d / "instances" / f"{f.id}.tif").astype(np.int32))
        components = make_target(class_map, schema)
        assert np.array_equal(s.target[s.target != IGNORE_INDEX], (components if f.instances is None else own)
                              [s.target != IGNORE_INDEX])
        parted += int((own == 2).sum() > (components == 2).sum())
    assert parted >= 3  # touching grains exist, and their contact became boundary
    plain = split_files(TrainSpec([d / "images"], d / "masks", "class", binary_schema(), instances=instances))
    assert all(f.instances is None for f in plain)


def test_training_on_instance_maps_learns_the_boundary_class_by_default(synthetic_dataset):
    from grainloop.ml_commands import _spec

    d = synthetic_dataset
    assert _spec(d / "images", d / "instances", None, "instance", None).schema == binary_schema(boundary=True)
    assert _spec(d / "images", d / "masks", None, "class", None).schema == binary_schema()
    chosen = _spec(d / "images", d / "instances", None, "instance", Path("schemas/grains.yaml")).schema
    assert not chosen.boundary
