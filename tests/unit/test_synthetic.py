"""Unit tests for the synthetic SEM grain generator."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from scipy import ndimage

from ml.synthetic import GENERATOR_VERSION, SyntheticConfig, SyntheticSample, generate, image_seed, write_dataset

SEEDS = range(5)


@pytest.fixture(scope="module")
def samples() -> list[SyntheticSample]:
    return [generate(SyntheticConfig(), s) for s in SEEDS]


def _touching_pairs(inst: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of distinct grain ids that share a 4-connected pixel edge."""
    pairs: set[tuple[int, int]] = set()
    for a, b in ((inst[1:], inst[:-1]), (inst[:, 1:], inst[:, :-1])):
        hit = (a != b) & (a > 0) & (b > 0)
        pairs |= {tuple(sorted(p)) for p in zip(a[hit].tolist(), b[hit].tolist())}
    return pairs


def test_same_seed_same_arrays() -> None:
    a, b = generate(SyntheticConfig(), 7), generate(SyntheticConfig(), 7)
    for name in ("image", "class_map", "instance_map"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.meta == b.meta and a.banner == b.banner


def test_different_seeds_differ() -> None:
    a, b = generate(SyntheticConfig(), 1), generate(SyntheticConfig(), 2)
    assert not np.array_equal(a.image, b.image)
    assert not np.array_equal(a.instance_map, b.instance_map)


def test_shapes_and_dtypes(samples: list[SyntheticSample]) -> None:
    for s in samples:
        assert s.image.shape == s.class_map.shape == s.instance_map.shape == (256, 256)
        assert (s.image.dtype, s.class_map.dtype, s.instance_map.dtype) == (np.uint8, np.uint8, np.int32)


def test_masks_consistent(samples: list[SyntheticSample]) -> None:
    for s in samples:
        np.testing.assert_array_equal(s.class_map > 0, s.instance_map > 0)
        for gid in range(1, s.meta["n_grains"] + 1):
            assert np.unique(s.class_map[s.instance_map == gid]).size == 1


def test_counts_match_meta_and_ids_consecutive(samples: list[SyntheticSample]) -> None:
    for s in samples:
        ids = np.unique(s.instance_map)
        assert len(ids) - 1 == s.meta["n_grains"] > 0
        np.testing.assert_array_equal(ids, np.arange(s.meta["n_grains"] + 1))


def test_every_instance_is_one_region_of_some_size(samples: list[SyntheticSample]) -> None:
    for s in samples:
        for gid in range(1, s.meta["n_grains"] + 1):
            mask = s.instance_map == gid
            assert ndimage.label(mask)[1] == 1
            assert mask.sum() >= 5


def test_touching_grains_exist(samples: list[SyntheticSample]) -> None:
    assert all(_touching_pairs(s.instance_map) for s in samples)


def test_banner_box_and_masks_zero_inside(samples: list[SyntheticSample]) -> None:
    for s in samples:
        assert s.banner is not None
        assert (s.banner.y0, s.banner.y1, s.banner.x0, s.banner.x1) == (230, 256, 0, 256)
        assert s.meta["banner"] == s.banner.to_dict()
        assert not s.class_map[s.banner.slices].any() and not s.instance_map[s.banner.slices].any()
        strip = s.image[s.banner.slices]
        assert strip[0].min() >= 200  # bright separator line
        assert np.median(strip) <= 10 and strip.max() >= 200  # near-black with white text


def test_no_banner_lets_grains_reach_the_bottom() -> None:
    runs = [generate(SyntheticConfig(banner=False), seed) for seed in SEEDS]
    assert all(s.banner is None and s.meta["banner"] is None for s in runs)
    assert any(s.instance_map[-5:].any() for s in runs)


def test_uint16_path() -> None:
    s = generate(SyntheticConfig(bit_depth=16), 4)
    assert s.image.dtype == np.uint16
    grains = s.instance_map > 0
    assert s.image[grains].mean() > 20000 and s.image.max() > 50000


def test_multiclass_ids_and_grey_levels() -> None:
    runs = [generate(SyntheticConfig(n_classes=3), seed) for seed in SEEDS]
    classes = np.stack([s.class_map for s in runs])
    images = np.stack([s.image for s in runs])
    assert set(np.unique(classes).tolist()) == {0, 1, 2, 3}
    means = [float(images[classes == k].mean()) for k in (1, 2, 3)]
    assert np.all(np.diff(means) > 20)  # phases differ clearly in grey level


def test_grains_brighter_than_background(samples: list[SyntheticSample]) -> None:
    for s in samples:
        visible = np.ones(s.image.shape, bool)
        visible[s.banner.slices] = False
        grains = s.instance_map > 0
        assert s.image[grains].mean() > s.image[visible & ~grains].mean() + 50


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="bit_depth"):
        SyntheticConfig(bit_depth=12)
    with pytest.raises(ValueError, match="n_classes"):
        SyntheticConfig(n_classes=0)


def test_write_dataset_round_trip(tmp_path: Path) -> None:
    cfg = SyntheticConfig(height=96, width=128, grains=(3, 8), radius=(4.0, 15.0))
    paths = write_dataset(tmp_path, 3, cfg, seed=11)
    assert paths == [tmp_path / "images" / f"syn_{i:04d}.tif" for i in range(3)]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["generator_version"] == GENERATOR_VERSION and manifest["seed"] == 11
    assert manifest["config"]["height"] == 96 and len(manifest["images"]) == 3
    for i, entry in enumerate(manifest["images"]):
        assert entry["seed"] == image_seed(11, i)
        s = generate(cfg, entry["seed"])
        np.testing.assert_array_equal(tifffile.imread(tmp_path / entry["image"]), s.image)
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / entry["mask"]), cv2.IMREAD_UNCHANGED), s.class_map)
        np.testing.assert_array_equal(tifffile.imread(tmp_path / entry["instances"]), s.instance_map)
        assert entry["n_grains"] == s.meta["n_grains"]


def test_written_tiff_records_pixel_size(tmp_path: Path) -> None:
    path = write_dataset(tmp_path, 1, SyntheticConfig(height=64, width=64, grains=(2, 4)), seed=0)[0]
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        x_res = page.tags["XResolution"].value
        assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
        assert x_res[0] / x_res[1] == pytest.approx(1e4 / 0.5)
        assert json.loads(page.description)["generator_version"] == GENERATOR_VERSION


def _dark_share(dark_grains: float, n: int = 40) -> float:
    from ml.synthetic import sem_field

    dark = 0
    for seed in range(n):
        s = generate(sem_field(64, dark_grains=dark_grains, banner=False, charging=0.0), seed)
        grains = s.class_map > 0
        dark += s.image[grains].mean() < s.image[~grains].mean()
    return dark / n


def test_dark_grains_sets_how_many_looks_show_grains_darker_than_the_substrate() -> None:
    from ml.synthetic import sem_field

    assert _dark_share(0.0) <= 0.05  # (a bright rim or streak can tip a weak-contrast field)
    assert _dark_share(0.25) < 0.25 < _dark_share(1.0) < 0.75  # asked for, where the substrate allows it
    default = generate(sem_field(64), 3).image
    assert np.array_equal(default, generate(sem_field(64, dark_grains=0.25), 3).image)  # the default's looks
    with pytest.raises(ValueError, match="dark_grains"):
        SyntheticConfig(dark_grains=1.5)
