"""Co-registration: synthetic sub-pixel shifts and small rotations recovered; stacks train and predict."""
import json

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from grainloop.cli import app
from foundation.schema import binary_schema
from ml.data import find_samples, load_samples
from ml.io import read_image
from ml.register import RegisterConfig, Transform, estimate, register_stack, valid_box, warp, write_stack
from ml.synthetic import SyntheticConfig, generate

K, SIZE, MARGIN = 5, 128, 60  # each image pixel integrates K x K pixels of a finer scene


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    cfg = SyntheticConfig(height=K * SIZE + 2 * MARGIN, width=K * SIZE + 2 * MARGIN, grains=(70, 90),
                          radius=(15.0, 80.0), noise=0.0, banner=False)
    return generate(cfg, seed=11).image.astype(np.float64)


def view(scene: np.ndarray, oy: int, ox: int, seed: int = 0) -> np.ndarray:
    """The field seen by a detector offset by (oy, ox) fine pixels, i.e. (oy, ox) / K image pixels, with noise."""
    crop = scene[MARGIN + oy: MARGIN + oy + K * SIZE, MARGIN + ox: MARGIN + ox + K * SIZE]
    binned = crop.reshape(SIZE, K, SIZE, K).mean(axis=(1, 3))
    return binned + np.random.default_rng(seed).normal(0, 3, binned.shape)


def test_sub_pixel_shifts_recovered_within_0_2_px(scene):
    ref = view(scene, 0, 0)
    rng = np.random.default_rng(4)
    for i, (oy, ox) in enumerate(rng.integers(-45, 46, (6, 2))):
        t = estimate(ref, view(scene, oy, ox, seed=i + 1))
        assert abs(t.dy - oy / K) < 0.2 and abs(t.dx - ox / K) < 0.2, (oy / K, ox / K, t)


def test_a_channel_with_other_contrast_aligns_too(scene):
    ref, mov = view(scene, 0, 0), view(scene, 13, -22, seed=3)
    element_map = 255 - 12 * np.sqrt(np.clip(mov, 0, None))  # inverted, non-linear contrast
    t = estimate(ref, element_map)
    assert abs(t.dy - 13 / K) < 0.2 and abs(t.dx + 22 / K) < 0.2


def test_small_rotation_found_by_search(scene):
    rotated = warp(scene, Transform(angle_deg=1.5), order=1)
    ref, mov = view(scene, 0, 0), view(rotated, 10, -5, seed=2)
    t = estimate(ref, mov, RegisterConfig(rotation=True, max_angle=3))
    assert t.angle_deg == pytest.approx(-1.5, abs=0.1)
    inner = (slice(12, -12),) * 2
    residual = np.abs(warp(mov, t) - ref)[inner].mean()
    assert residual < 0.5 * np.abs(mov - ref)[inner].mean()
    assert estimate(ref, view(scene, 0, 0, 5), RegisterConfig(rotation=True)).angle_deg == pytest.approx(0, abs=0.1)


def test_stack_keeps_dtypes_and_reports_the_valid_box(scene):
    ref = np.clip(view(scene, 0, 0), 0, 255).astype(np.uint8)[None]
    mov = np.clip(view(scene, 15, 10, seed=1), 0, 255).astype(np.uint8)[None]
    stack, (t,) = register_stack(ref, [mov])
    assert stack.shape == (2, SIZE, SIZE) and stack.dtype == np.uint8 and (stack[0] == ref[0]).all()
    box = valid_box(stack.shape[1:], [t])
    # moved down 3 and right 2 px: the first rows and columns come from outside the moving image
    assert (box.y0, box.y1, box.x0, box.x1) == (3, SIZE, 2, SIZE)


def test_stack_file_reads_back_as_channels_and_refuses_4(tmp_path):
    stack = np.stack([np.full((20, 30), v, np.uint16) for v in (1, 2, 3)])
    stack[1, 5, 5] = 9
    path, side = write_stack(tmp_path / "s.tif", stack, {"tool": "test"})
    assert np.array_equal(read_image(path), stack) and json.loads(side.read_text()) == {"tool": "test"}
    with pytest.raises(ValueError, match="alpha"):
        write_stack(tmp_path / "four.tif", np.zeros((4, 8, 8), np.uint8), {})


def test_register_cli_writes_stack_and_shifts(scene, tmp_path):
    for name, (oy, ox, seed) in {"se": (0, 0, 0), "bse": (8, -6, 1), "edx": (-11, 4, 2)}.items():
        tifffile.imwrite(tmp_path / f"{name}.tif", np.clip(view(scene, oy, ox, seed), 0, 255).astype(np.uint8))
    out = tmp_path / "stack.tif"
    r = CliRunner().invoke(app, ["register", "--reference", str(tmp_path / "se.tif"), "--moving",
                                 str(tmp_path / "bse.tif"), "--moving", str(tmp_path / "edx.tif"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    record = json.loads(out.with_suffix(".json").read_text())
    (bse, edx) = record["moving"]
    assert abs(bse["dy"] - 8 / K) < 0.2 and abs(bse["dx"] + 6 / K) < 0.2 and abs(edx["dy"] + 11 / K) < 0.2
    assert record["channels"] == ["se.tif[0]", "bse.tif[0]", "edx.tif[0]"] and read_image(out).shape == (3, SIZE, SIZE)


@pytest.fixture(scope="module")
def stacked_dataset(tmp_path_factory):
    """Three fields, each a registered 2-channel stack (SE + shifted BSE) with its class mask."""
    root = tmp_path_factory.mktemp("stacked")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for i in range(3):
        s = generate(SyntheticConfig(height=64, width=64, banner=False), seed=i)
        bse = np.roll(s.image, (1, 2), axis=(0, 1))
        stack, _ = register_stack(s.image[None], [bse[None]], RegisterConfig(upsample=10))
        write_stack(root / "images" / f"f{i}.tif", stack, {})
        tifffile.imwrite(root / "masks" / f"f{i}.tif", s.class_map)
    return root


def test_stacked_files_load_as_input_channels(stacked_dataset):
    files = find_samples([stacked_dataset / "images"], stacked_dataset / "masks")
    samples = load_samples(files, binary_schema())
    assert len(samples) == 3 and all(s.image.shape == (2, 64, 64) and s.target.shape == (64, 64) for s in samples)
    assert len(samples[0].state.low) == 2  # normalised per channel


def test_stacked_channels_train_and_predict_through_the_usual_code(stacked_dataset, tmp_path):
    from ml import runs
    from ml.train_options import train_config
    from ml.checkpoint import load_model
    from ml.predict import PredictConfig, predict_image

    spec = runs.TrainSpec([stacked_dataset / "images"], stacked_dataset / "masks", "class", binary_schema(), 0.34)
    cfg = train_config(epochs=1, patch=32, patches_per_epoch=4, batch_size=2, decoder_channels=(16, 8, 8, 8, 8))
    result = runs.run_training(spec, cfg, tmp_path / "run")
    model, artifact = load_model(result.model_path)
    assert artifact.model_config.in_channels == 2
    pred = predict_image(model, read_image(stacked_dataset / "images" / "f0.tif"), PredictConfig(tile=64, overlap=0))
    assert pred.labels.shape == (64, 64)
