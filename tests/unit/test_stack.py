"""Serial-section stacks: reading (multi-page TIFF, folder of slices), 2.5D views with clamped ends, the
synthetic stack generator's properties."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from foundation.semimage import ImageReadError
from foundation.slicestack import channel_names, neighbour_indices, read_stack, read_stacks, slice_input, slice_offsets
from ml.synthetic_stack import DETECTORS, StackConfig, generate_stack, write_stack

SMALL = StackConfig(slices=8, height=48, width=48)


def _volume(slices=5, h=12, w=10) -> np.ndarray:
    return (np.arange(slices)[:, None, None] * 10 + np.zeros((slices, h, w))).astype(np.uint8)


def test_multipage_tiff_and_folder_read_the_same_stack(tmp_path):
    vol = _volume()
    tifffile.imwrite(tmp_path / "stack.tif", vol, photometric="minisblack")
    folder = tmp_path / "slices"
    folder.mkdir()
    for k, plane in enumerate(vol):
        Image.fromarray(plane).save(folder / f"slice_{k:03d}.png")
    (folder / "notes.txt").write_text("not a slice")
    assert np.array_equal(read_stack(tmp_path / "stack.tif"), vol)
    assert np.array_equal(read_stack(folder), vol)
    single = tmp_path / "one.png"
    Image.fromarray(vol[2]).save(single)
    assert read_stack(single).shape == (1, 12, 10)


def test_bad_stacks_are_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="no slice images"):
        read_stack(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(mixed / "a.png")
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(mixed / "b.png")
    with pytest.raises(ImageReadError, match="differ in size"):
        read_stack(mixed)
    tifffile.imwrite(tmp_path / "a.tif", _volume(5), photometric="minisblack")
    tifffile.imwrite(tmp_path / "b.tif", _volume(4), photometric="minisblack")
    with pytest.raises(ValueError, match="differ in shape"):
        read_stacks([tmp_path / "a.tif", tmp_path / "b.tif"])


def test_neighbours_are_clamped_at_the_ends():
    assert slice_offsets(1) == (0,) and slice_offsets(3) == (0, -1, 1) and slice_offsets(5) == (0, -1, 1, -2, 2)
    assert neighbour_indices(0, 5, 3) == (0, 0, 1)
    assert neighbour_indices(4, 5, 3) == (4, 3, 4)
    assert neighbour_indices(2, 5, 5) == (2, 1, 3, 0, 4)
    assert neighbour_indices(0, 1, 3) == (0, 0, 0)
    with pytest.raises(ValueError, match="odd"):
        slice_offsets(2)
    with pytest.raises(IndexError):
        neighbour_indices(5, 5, 3)


def test_slice_input_stacks_detectors_then_slices_centre_first():
    a, b = _volume(), _volume() + 100
    x = slice_input([a, b], 0, 3)
    assert x.shape == (6, 12, 10)
    assert [int(c[0, 0]) for c in x] == [0, 0, 10, 100, 100, 110]
    assert [int(c[0, 0]) for c in slice_input([a], 3, 1)] == [30]
    assert channel_names(["inlens", "se"], 3) == ["inlens_z0", "inlens_z-1", "inlens_z+1", "se_z0", "se_z-1", "se_z+1"]


def test_generator_phases_continue_across_slices_and_detectors_differ():
    s = generate_stack(SMALL, seed=3)
    assert set(s.detectors) == set(DETECTORS)
    assert all(v.shape == (8, 48, 48) and v.dtype == np.uint8 for v in s.detectors.values())
    assert set(np.unique(s.labels)) == {0, 1, 2, 3}
    adjacent = (s.labels[1:] == s.labels[:-1]).mean()
    far = (s.labels[4:] == s.labels[:-4]).mean()
    assert adjacent > 0.75 and adjacent > far
    again = generate_stack(SMALL, seed=3)
    assert np.array_equal(again.labels, s.labels) and np.array_equal(again.detectors["inlens"], s.detectors["inlens"])


def test_each_detector_separates_the_phase_the_other_hardly_sees():
    s = generate_stack(StackConfig(slices=6, height=96, width=96, noise=0.0, curtaining=0.0, charging=0.0,
                                   gradient=0.0, blur=0.0), seed=1)
    means = {d: [float(v[s.labels == p].mean()) for p in range(4)] for d, v in s.detectors.items()}
    ic, il = means["inchamber"], means["inlens"]
    assert abs(ic[2] - ic[0]) < 25 < abs(il[2] - il[0])  # clinker: weak in-chamber, clear in-lens
    assert abs(il[3] - il[0]) < 25 < abs(ic[3] - ic[0])  # portlandite: the other way round


def test_noise_is_independent_per_slice_so_neighbours_average_it():
    s = generate_stack(StackConfig(slices=10, height=64, width=64, sigma_z=50.0, curtaining=0.0, charging=0.0,
                                   blur=0.0), seed=2)
    v = s.detectors["inlens"].astype(float)
    same = s.labels[1:-1] == s.labels[:-2]
    same &= s.labels[1:-1] == s.labels[2:]
    residual_one = (v[1:-1] - v[1:-1].mean())[same].std()
    err_one = (v[1:-1] - v[2:])[same].std()
    err_mean = ((v[:-2] + v[1:-1] + v[2:]) / 3 - v[1:-1])[same].std()
    assert err_one > 255 * 0.16  # sqrt(2) x the noise: no noise is shared between neighbouring slices
    assert err_mean < err_one < 2 * residual_one


def test_write_stack_round_trips(tmp_path):
    s = generate_stack(SMALL, seed=0)
    paths = write_stack(tmp_path / "stk", s)
    assert np.array_equal(read_stack(paths["labels"]), s.labels)
    assert np.array_equal(read_stack(paths["inchamber"]), s.detectors["inchamber"])
    assert (tmp_path / "stk" / "stack.json").is_file()


def test_cli_prepares_a_stack_trains_on_three_slices_and_predicts_the_whole_stack(tmp_path):
    from typer.testing import CliRunner

    from grainloop.cli import app

    runner = CliRunner()
    raw, ds = tmp_path / "raw", tmp_path / "ds"
    assert runner.invoke(app, ["stack", "synth", str(raw), "--slices", "5", "--size", "48"]).exit_code == 0
    dets = ["--detector", str(raw / "inchamber.tif"), "--detector", str(raw / "inlens.tif")]
    r = runner.invoke(app, ["stack", "prepare", *dets, "--labels", str(raw / "labels.tif"), "--out", str(ds),
                            "--only", "0,1,4"])
    assert r.exit_code == 0, r.output
    train_args = r.stdout.split()[2:]
    assert train_args.count("--images") == 6 and train_args[1].endswith("inchamber_z0")
    edge = tifffile.imread(ds / "inchamber_z-1" / "slice_0000.tif")  # slice -1 is slice 0 (clamped)
    assert np.array_equal(edge, read_stack(raw / "inchamber.tif")[0])
    r = runner.invoke(app, ["train", *train_args, "--schema", "schemas/cement-phases.yaml", "--out",
                            str(tmp_path / "m"),
                            "--epochs", "1", "--patch", "32", "--patches-per-epoch", "4", "--batch-size", "2",
                            "--decoder-channels", "8,8,8,8,8", "--val-fraction", "0.34", "--threads", "1"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "pred.tif"
    r = runner.invoke(app, ["stack", "predict", "--model", str(tmp_path / "m" / "model.pt"), *dets, "--out", str(out),
                            "--tile", "32", "--overlap", "8"])
    assert r.exit_code == 0, r.output
    pred = tifffile.imread(out)
    assert pred.shape == (5, 48, 48) and pred.max() <= 3
    r = runner.invoke(app, ["stack", "predict", "--model", str(tmp_path / "m" / "model.pt"), dets[0], dets[1],
                            "--out", str(out)])
    assert r.exit_code == 2  # 6 channels from one detector would be 6 slices: not an odd context, refused


def test_sensor3d_trains_on_a_prepared_stack_and_sees_the_neighbours(tmp_path):
    import torch

    from foundation.schema import LabelSchema
    from ml.checkpoint import load_model
    from ml.models import ModelConfig, build_model
    from ml.runs import TrainSpec, run_training
    from ml.stack_prepare import prepare_stack
    from ml.train_options import DEFAULTS, with_options

    with pytest.raises(ValueError, match="detectors x 3 slices"):
        build_model(ModelConfig(arch="sensor3d", in_channels=4))
    s = generate_stack(SMALL, seed=0)
    paths = write_stack(tmp_path / "raw", s)
    ds = prepare_stack([paths["inchamber"], paths["inlens"]], tmp_path / "ds", 3, paths["labels"], [0, 3, 7])
    spec = TrainSpec(ds.channels, ds.masks, "class", LabelSchema.load("schemas/cement-phases.yaml"),
                     splits={"slice_0000": "train", "slice_0007": "train", "slice_0003": "val"})
    cfg = with_options(DEFAULTS, arch="sensor3d", decoder_channels=(8, 8, 8, 8, 8), epochs=2, patch=32,
                       patches_per_epoch=4, batch_size=2, threads=1)
    result = run_training(spec, cfg, tmp_path / "run")
    net, artifact = load_model(result.model_path)
    assert artifact.model_config.arch == "sensor3d" and artifact.model_config.in_channels == 6
    x = torch.randn(1, 6, 32, 32)
    swapped = x.clone()
    swapped[:, 1] = torch.randn(1, 32, 32)  # another slice k-1: the output changes, the model uses the context
    with torch.no_grad():
        assert net(x).shape == (1, 4, 32, 32) and not torch.allclose(net(x), net(swapped))
